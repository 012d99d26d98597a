"""A paper not stored yet: the page answers at once while arXiv (a slow or failing loopback) is asked
in the background, polls /arxiv/lookup, and ends on the paper or on a clear reason."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from app.config import Settings, get_settings
from app.renders import PAGE_THREADS
from app.store import lookup
from app.web.pages import LOOKUP_GRACE
from tests.arxiv_api import RECORDED
from tests.loopback import LoopbackServer, Reply

# The recorded arXiv answer for 1605.08386, re-labelled per test: each test needs ids no other test
# (in this process) has looked up, since lookups are remembered per process.
_RECORDING = json.loads((RECORDED / "id_1605.08386_s0_m100_199195aa31ad.json").read_text())["body"]
SLOW = 2.5  # seconds the slow arXiv takes to answer: longer than a page waits
LEAKS = ("127.0.0.1", "http://", "Errno", "attempt", "HTTP 503")  # what the transport's error says


def answer_for(arxiv_id: str) -> bytes:
    return str(_RECORDING).replace("1605.08386", arxiv_id).encode("latin-1")


@pytest.fixture
def arxiv(settings_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackServer]:
    """An arXiv API on loopback with no script yet (tests add theirs), used with no retries."""
    with LoopbackServer() as server:
        monkeypatch.setenv("ARXIV_API_URL", f"{server.url}/api/query")
        monkeypatch.setenv("ARXIV_RETRIES", "0")
        get_settings.cache_clear()
        yield server


@pytest.fixture
def app_client(arxiv: LoopbackServer) -> TestClient:
    from app.main import create_app

    return TestClient(create_app(), raise_server_exceptions=False)


def poll(client: TestClient, arxiv_id: str, *, seconds: float = 15) -> dict[str, object]:
    """What /arxiv/lookup says once the lookup is no longer pending."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body: dict[str, object] = client.get("/arxiv/lookup", params={"paper": arxiv_id}).json()
        if body["status"] != "pending":
            return body
        time.sleep(0.2)
    raise AssertionError(f"the lookup of {arxiv_id} was still pending after {seconds} s")


def test_slow_arxiv_page_answers_at_once_and_polls_to_the_paper(
    app_client: TestClient, arxiv: LoopbackServer
) -> None:
    arxiv.script("/api/query", Reply(200, answer_for("2401.99101"), delay=SLOW))
    started = time.monotonic()
    page = app_client.get("/arxiv/2401.99101")
    assert time.monotonic() - started < LOOKUP_GRACE + 1.0  # not the slow arXiv's time
    assert page.status_code == 202 and page.headers["cache-control"] == "no-cache"
    assert 'id="lookups"' in page.text and 'data-paper="2401.99101"' in page.text
    assert "fetching 2401.99101 from arXiv" in page.text
    second = app_client.get("/arxiv/2401.99101")  # a second reader joins the lookup under way
    assert second.status_code == 202
    assert poll(app_client, "2401.99101") == {
        "paper": "2401.99101",
        "status": "found",
        "message": "2401.99101 was fetched from arXiv",
        "retry_after": None,
    }
    final = app_client.get("/arxiv/2401.99101")
    assert final.status_code == 200 and "Heat-bath random walks" in final.text
    assert len(arxiv.requests_for("/api/query")) == 1  # two pages and the polls, one lookup


def test_arxiv_failing_gives_a_reason_without_its_address(
    app_client: TestClient, arxiv: LoopbackServer
) -> None:
    arxiv.script("/api/query", Reply(503, b"down", delay=SLOW))
    assert app_client.get("/arxiv/2401.99102").status_code == 202
    body = poll(app_client, "2401.99102")
    assert body["status"] == "unreachable" and body["retry_after"]
    message = str(body["message"])
    assert "could not be reached" in message and not any(leak in message for leak in LEAKS)
    page = app_client.get("/arxiv/2401.99102")  # not asked again for a minute: the reason, at once
    assert page.status_code == 503 and int(page.headers["retry-after"]) > 0
    assert "arXiv could not be reached to fetch 2401.99102" in page.text
    assert not any(leak in page.text for leak in LEAKS)
    assert len(arxiv.requests_for("/api/query")) == 1


def test_api_lookup_failing_hides_the_transport_error(
    app_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARXIV_API_URL", "http://127.0.0.1:9/api/query")  # nothing listens
    get_settings.cache_clear()
    response = app_client.get("/api/v1/papers/2401.99103")
    assert response.status_code == 503 and int(response.headers["retry-after"]) > 0
    detail = response.json()["detail"]
    assert "could not be reached" in detail and not any(leak in detail for leak in LEAKS)


def test_id_arxiv_does_not_know_is_404_at_once(app_client: TestClient, arxiv: LoopbackServer) -> None:
    unknown = (RECORDED / "id_0000.0000_s0_m100_8b51d9633a68.json").read_text()
    arxiv.script("/api/query", Reply(200, str(json.loads(unknown)["body"]).encode("latin-1")))
    started = time.monotonic()
    page = app_client.get("/arxiv/9999.99999")
    assert time.monotonic() - started < LOOKUP_GRACE + 1.0
    assert page.status_code == 404 and "arXiv does not know the paper 9999.99999" in page.text
    assert app_client.get("/arxiv/9999.99999/feed").status_code == 404
    assert poll(app_client, "9999.99999")["status"] == "unknown"
    assert len(arxiv.requests_for("/api/query")) == 1  # remembered


def test_full_lookup_slots_answer_busy_without_waiting(app_client: TestClient, arxiv: LoopbackServer) -> None:
    arxiv.script("/api/query", Reply(200, answer_for("2401.99110"), delay=SLOW))
    held = [f"2401.991{n}" for n in range(11, 11 + lookup.MAX_CONCURRENT)]
    try:
        for arxiv_id in held:  # the poll starts a lookup without waiting for it
            assert app_client.get("/arxiv/lookup", params={"paper": arxiv_id}).json()["status"] == "pending"
        started = time.monotonic()
        page = app_client.get("/arxiv/2401.99120")
        assert time.monotonic() - started < 1.0
        assert page.status_code == 503 and page.headers["retry-after"] == str(lookup.BUSY_RETRY)
        assert "try again in a few seconds" in page.text
        assert app_client.get("/arxiv/2401.99120/feed").status_code == 503
        polled = app_client.get("/arxiv/lookup", params={"paper": "2401.99120"}).json()
        assert polled["status"] == "busy" and polled["retry_after"] == lookup.BUSY_RETRY
    finally:
        lookup.wait_for_lookups(held, seconds=SLOW + 5)
    # The slots are free again: the refused id can be looked up now.
    assert app_client.get("/arxiv/lookup", params={"paper": "2401.99120"}).json()["status"] == "pending"
    lookup.wait_for_lookups(["2401.99120"], seconds=SLOW + 5)


def test_feed_of_a_pending_paper_is_503_with_retry_after(
    app_client: TestClient, arxiv: LoopbackServer
) -> None:
    arxiv.script("/api/query", Reply(200, answer_for("2401.99121"), delay=SLOW))
    response = app_client.get("/arxiv/2401.99121/feed")
    assert response.status_code == 503 and int(response.headers["retry-after"]) > 0
    assert "fetching 2401.99121 from arXiv" in response.text
    assert poll(app_client, "2401.99121")["status"] == "found"
    assert app_client.get("/arxiv/2401.99121/feed").status_code == 200


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("1910.10631,garbage", "&#39;garbage&#39; is neither an arXiv id nor a category"),
        ("1910.10631,cs.AI", "a page lists paper ids or categories, not both: &#39;cs.AI&#39; is a category"),
    ],
)
def test_ids_mixed_with_something_else_name_the_odd_part(
    app_client: TestClient, spec: str, message: str
) -> None:
    response = app_client.get(f"/arxiv/{spec}")
    assert response.status_code == 422 and message in response.text
    assert "not a category: &#39;1910.10631&#39;" not in response.text


def test_lookup_poll_refuses_what_is_not_an_id(app_client: TestClient) -> None:
    response = app_client.get("/arxiv/lookup", params={"paper": "garbage"})
    assert response.status_code == 422


def test_pages_waiting_for_arxiv_hold_no_page_thread(arxiv: LoopbackServer) -> None:
    """As many pages of unknown papers as there are page threads, each waiting up to LOOKUP_GRACE for a
    slow arXiv: the wait is handed to the shared pool, and the index (a page handler) is served meanwhile.
    (One client for all: the page threads are counted per event loop, as in a served process.)"""
    from app.main import create_app

    arxiv.script("/api/query", Reply(200, answer_for("2401.99301"), delay=SLOW))
    ids = [f"2401.9930{n + 1}" for n in range(PAGE_THREADS)]
    with (
        TestClient(create_app(), raise_server_exceptions=False) as client,
        ThreadPoolExecutor(len(ids)) as readers,
    ):
        waits = [readers.submit(client.get, f"/arxiv/{arxiv_id}") for arxiv_id in ids]
        time.sleep(0.3)  # both under way, waiting for arXiv
        assert client.get("/").status_code == 200
        assert not any(wait.done() for wait in waits)  # still waiting: the index did not queue behind them
        assert [wait.result().status_code for wait in waits] == [202] * len(ids)


def test_one_client_starts_at_most_its_lookups_a_minute(
    app_client: TestClient, arxiv: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One client held every lookup slot (and the deployment's arXiv budget) with ~20 requests a minute."""
    monkeypatch.setenv("RATE_LOOKUP_PER_MINUTE", "2")
    get_settings.cache_clear()
    if time.time() % 60 > 55:  # the limit's window is the wall-clock minute: not across its end
        time.sleep(60 - time.time() % 60 + 0.1)
    arxiv.script("/api/query", Reply(200, answer_for("2401.99131"), delay=SLOW))
    started = ["2401.99131", "2401.99132"]
    try:
        for arxiv_id in started:
            assert app_client.get("/arxiv/lookup", params={"paper": arxiv_id}).json()["status"] == "pending"
        refused = app_client.get("/arxiv/lookup", params={"paper": "2401.99133"}).json()
        assert refused["status"] == "limited" and refused["retry_after"] == lookup.LIMITED_RETRY
        page = app_client.get("/arxiv/2401.99134")
        assert page.status_code == 429 and "asked for many papers" in page.text
        api = app_client.get("/api/v1/papers/2401.99135")
        assert api.status_code == 429 and int(api.headers["retry-after"]) > 0
        assert app_client.get("/arxiv/2401.99136.md").status_code == 429
        # Following a lookup already under way starts nothing: it is not refused.
        assert app_client.get("/arxiv/lookup", params={"paper": started[0]}).json()["status"] == "pending"
    finally:
        lookup.wait_for_lookups(started, seconds=SLOW + 5)
    assert len(arxiv.requests_for("/api/query")) == 2
