"""ArxivClient against a real HTTP server on loopback replaying recorded arXiv responses."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.arxiv.fetch import ArxivClient, IntervalLimiter, process_limiter
from app.config import Settings
from app.errors import ArxivUnavailableError, FetchError
from tests.loopback import LoopbackServer, Reply

FEED = (Path(__file__).parents[1] / "data/rss/rss2-2024-multicat-csLG+csAI+csCL+statML.xml").read_bytes()
CATEGORIES = ("cs.LG", "cs.AI", "cs.CL", "stat.ML")
FEED_PATH = "/rss/cs.LG+cs.AI+cs.CL+stat.ML"
ETAG = '"feed-2024-05-20"'
LAST_MODIFIED = "Mon, 20 May 2024 04:00:00 GMT"
UA = "coolpapers-test/0 (+mailto:ops@example.org)"
# The limiter spaces the moments requests leave; their arrival at the server can differ by a few
# milliseconds (the first one also opens the connection), so spacing is asserted up to this jitter.
JITTER = 0.02


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


def make_client(server: LoopbackServer, **overrides: Any) -> ArxivClient:
    options: dict[str, Any] = {
        "rss_url": f"{server.url}/rss",
        "api_url": f"{server.url}/api/query",
        "oai_url": f"{server.url}/oai2",
        "user_agent": UA,
        "timeout": 2.0,
        "connect_timeout": 1.0,
        "retries": 2,
        "backoff": 0.01,
        "limiter": IntervalLimiter(0),
    }
    options.update(overrides)
    return ArxivClient(**options)


def test_fetch_listing_returns_body_and_validators(server: LoopbackServer) -> None:
    headers = {"ETag": ETAG, "Last-Modified": LAST_MODIFIED, "Content-Type": "application/rss+xml"}
    server.script(FEED_PATH, Reply(200, FEED, headers))
    with make_client(server) as client:
        result = client.fetch_listing(CATEGORIES)
    assert (result.status, result.body, result.etag, result.last_modified) == (200, FEED, ETAG, LAST_MODIFIED)
    assert not result.not_modified
    assert result.url == client.listing_url(CATEGORIES) == f"{server.url}{FEED_PATH}"
    [request] = server.requests
    assert request.path == FEED_PATH
    assert "if-none-match" not in request.headers
    assert "if-modified-since" not in request.headers


def test_fetch_listing_conditional_get_returns_not_modified(server: LoopbackServer) -> None:
    server.script(FEED_PATH, Reply(304, headers={"ETag": ETAG}))
    with make_client(server) as client:
        result = client.fetch_listing(CATEGORIES, etag=ETAG, last_modified=LAST_MODIFIED)
    assert result.not_modified
    assert (result.status, result.body, result.etag, result.last_modified) == (304, None, ETAG, LAST_MODIFIED)
    [request] = server.requests
    assert request.headers["if-none-match"] == ETAG
    assert request.headers["if-modified-since"] == LAST_MODIFIED


def test_get_sends_user_agent_with_contact(server: LoopbackServer) -> None:
    server.script(FEED_PATH, Reply(200, FEED))
    settings = Settings(
        _env_file=None,
        arxiv_rss_url=f"{server.url}/rss",
        arxiv_contact="mailto:ops@example.org",
        arxiv_min_interval=0,
    )
    with ArxivClient.from_settings(settings) as client:
        client.fetch_listing(CATEGORIES)
    user_agent = server.requests[0].headers["user-agent"]
    assert "coolpapers" in user_agent
    assert "mailto:ops@example.org" in user_agent


def test_get_honours_retry_after_on_429(server: LoopbackServer) -> None:
    server.script(FEED_PATH, Reply(429, b"slow down", {"Retry-After": "1"}), Reply(200, FEED))
    with make_client(server) as client:
        result = client.fetch_listing(CATEGORIES)
    assert result.body == FEED
    first, second = server.requests
    assert second.time - first.time >= 1 - JITTER


def test_get_retries_503_then_succeeds(server: LoopbackServer) -> None:
    server.script(FEED_PATH, Reply(503), Reply(503), Reply(200, FEED))
    with make_client(server) as client:
        result = client.fetch_listing(CATEGORIES)
    assert result.body == FEED
    assert len(server.requests) == 3


def test_get_gives_up_after_retries_on_503(server: LoopbackServer) -> None:
    server.script(FEED_PATH, Reply(503, headers={"Retry-After": "0"}))
    with make_client(server, retries=2) as client, pytest.raises(ArxivUnavailableError) as caught:
        client.fetch_listing(CATEGORIES)
    assert caught.value.status == 503
    assert caught.value.retry_after == 0
    assert FEED_PATH in str(caught.value)
    assert "503" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert len(server.requests) == 3


def test_get_does_not_retry_404(server: LoopbackServer) -> None:
    with make_client(server) as client, pytest.raises(FetchError) as caught:
        client.get(f"{server.url}/rss/no.such")
    assert caught.value.status == 404
    assert not isinstance(caught.value, ArxivUnavailableError)  # not worth a later try either
    assert len(server.requests) == 1


def test_get_retries_truncated_body(server: LoopbackServer) -> None:
    server.script(FEED_PATH, Reply(200, FEED, truncate_at=1000), Reply(200, FEED))
    with make_client(server) as client:
        result = client.fetch_listing(CATEGORIES)
    assert result.body == FEED
    assert len(server.requests) == 2


def test_get_gives_up_on_always_truncated_body(server: LoopbackServer) -> None:
    server.script(FEED_PATH, Reply(200, FEED, truncate_at=1000))
    with make_client(server, retries=1) as client, pytest.raises(FetchError) as caught:
        client.fetch_listing(CATEGORIES)
    assert caught.value.status is None
    assert len(server.requests) == 2


def test_get_times_out_on_slow_response(server: LoopbackServer) -> None:
    server.script(FEED_PATH, Reply(200, FEED, delay=2))
    started = time.monotonic()
    with make_client(server, timeout=0.5, retries=1) as client, pytest.raises(FetchError) as caught:
        client.fetch_listing(CATEGORIES)
    assert "timed out" in str(caught.value)
    assert len(server.requests) == 2
    assert time.monotonic() - started < 1.9


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_get_refuses_body_over_max_bytes(server: LoopbackServer, chunked: bool) -> None:
    server.script(FEED_PATH, Reply(200, FEED, chunked=chunked))
    with make_client(server, max_bytes=4096) as client, pytest.raises(FetchError) as caught:
        client.fetch_listing(CATEGORIES)
    assert "4096" in str(caught.value)
    assert len(server.requests) == 1


def test_get_accepts_body_at_max_bytes(server: LoopbackServer) -> None:
    server.script(FEED_PATH, Reply(200, FEED, chunked=True))
    with make_client(server, max_bytes=len(FEED)) as client:
        assert client.fetch_listing(CATEGORIES).body == FEED


def test_interval_limiter_spaces_requests(server: LoopbackServer) -> None:
    server.script(FEED_PATH, Reply(200, FEED))
    with make_client(server, limiter=IntervalLimiter(0.5)) as client:
        client.fetch_listing(CATEGORIES)
        client.fetch_listing(CATEGORIES)
    first, second = server.requests
    assert second.time - first.time >= 0.5 - JITTER


def test_limiter_shared_by_two_clients(server: LoopbackServer) -> None:
    server.script(FEED_PATH, Reply(200, FEED))
    assert process_limiter(0.4) is process_limiter(0.4)
    limiter = process_limiter(0.4)
    with make_client(server, limiter=limiter) as one, make_client(server, limiter=limiter) as two:
        one.fetch_listing(CATEGORIES)
        two.fetch_listing(CATEGORIES)
    first, second = server.requests
    assert second.time - first.time >= 0.4 - JITTER


def test_interval_limiter_is_thread_safe() -> None:
    limiter = IntervalLimiter(0.1)
    times: list[float] = []
    lock = threading.Lock()

    def call() -> None:
        limiter.wait()
        with lock:
            times.append(time.monotonic())

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    times.sort()
    assert all(later - earlier >= 0.09 for earlier, later in itertools.pairwise(times))


def test_fetch_api_sends_query_params(server: LoopbackServer) -> None:
    server.script("/api/query", Reply(200, b"<feed/>"))
    with make_client(server) as client:
        client.fetch_api(id_list=["2401.00001", "2401.00002v2"], max_results=5000, sort_by="submittedDate")
        client.fetch_api(search_query="cat:cs.LG", start=100, sort_order="descending")
    first, second = server.requests
    assert first.param("id_list") == "2401.00001,2401.00002v2"
    assert first.param("max_results") == "2000"
    assert first.param("sortBy") == "submittedDate"
    assert second.param("search_query") == "cat:cs.LG"
    assert (second.param("start"), second.param("max_results")) == ("100", "100")
    assert second.param("sortOrder") == "descending"


def test_fetch_oai_sends_list_records_params(server: LoopbackServer) -> None:
    server.script("/oai2", Reply(200, b"<OAI-PMH/>"))
    with make_client(server) as client:
        client.fetch_oai(from_date=dt.date(2024, 5, 1), until_date=dt.date(2024, 5, 2), set_spec="cs")
        client.fetch_oai(resumption_token="6960524|1001")
    first, second = server.requests
    assert first.query == {
        "verb": ["ListRecords"],
        "metadataPrefix": ["arXiv"],
        "from": ["2024-05-01"],
        "until": ["2024-05-02"],
        "set": ["cs"],
    }
    assert second.query == {"verb": ["ListRecords"], "resumptionToken": ["6960524|1001"]}


def test_a_retry_after_past_the_longest_wait_gives_up_at_once(server: LoopbackServer) -> None:
    """An hour asked was waited 300 s at a time, 4 times: past a task's time limit, which then failed
    without a retry or a fetch_log row. Now the task's own retry waits what arXiv asked."""
    server.script(FEED_PATH, Reply(503, headers={"Retry-After": "3600"}), Reply(200, FEED))
    slept: list[float] = []
    client = make_client(server, max_retry_after=0.05, sleep=slept.append)
    with client, pytest.raises(ArxivUnavailableError) as caught:
        client.fetch_listing(CATEGORIES)
    assert slept == [] and caught.value.retry_after == 3600
    assert len(server.requests_for(FEED_PATH)) == 1


def test_a_response_trickled_past_its_deadline_is_a_timeout(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """httpx bounds each read only: 100 bytes every 1.5 s kept a 9 KB feed coming for 136 s."""
    from app import http_get

    monkeypatch.setattr(http_get, "WHOLE_RESPONSE_MIN", 0.5)
    server.script(FEED_PATH, Reply(200, FEED, trickle=0.05))
    started = time.monotonic()
    with (
        make_client(server, timeout=0.1, retries=0) as client,
        pytest.raises(ArxivUnavailableError) as caught,
    ):
        client.fetch_listing(CATEGORIES)
    assert "timed out: the response still came after" in str(caught.value)
    assert time.monotonic() - started < 2.0 and len(FEED) > 2000  # not the ~3 s the trickle takes
