"""`GET /api/v1/status` and the `/status` page reflect the fetch log, the schedule and the queues."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.config import Settings, get_settings
from app.jobs import queue_depths
from app.main import create_app
from tests.daily_feeds import daily_feed
from tests.loopback import LoopbackServer, Reply
from tests.workers.conftest import client_app
from workers.tasks import fetch_category


@pytest.fixture
def api(arxiv: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("ARXIV_CATEGORIES", "cs.LG,cs.AI")
    get_settings.cache_clear()
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield client


def test_status_before_any_fetch(api: TestClient) -> None:
    body = api.get("/api/v1/status").json()
    assert body["mode"] == "in-process"
    assert body["queues"] == {"fetch": 0, "embed": 0, "summarize": 0}
    assert body["next_run"] is not None
    assert [(c["category"], c["result"], c["last_run"]) for c in body["categories"]] == [
        ("cs.LG", "never", None),
        ("cs.AI", "never", None),
    ]


def test_status_reflects_fetch_log(api: TestClient) -> None:
    assert fetch_category.delay("cs.LG").state == "SUCCESS"
    assert fetch_category.delay("cs.AI").state == "FAILURE"  # 404 on loopback: not scripted
    assert fetch_category.delay("cs.RO").state == "FAILURE"  # opened by nobody, asked by an admin
    body = api.get("/api/v1/status").json()
    by_name = {c["category"]: c for c in body["categories"]}
    assert list(by_name) == ["cs.LG", "cs.AI", "cs.RO"]
    lg = by_name["cs.LG"]
    assert lg["result"] == "ok" and lg["last_error"] is None
    run = lg["last_run"]
    counted = (run["entries_seen"], run["papers_new"], run["papers_updated"], run["listings_added"])
    assert (run["http_status"], counted) == (200, (4, 4, 0, 4))
    assert run["url"].endswith("/rss/cs.LG") and run["finished_at"] >= run["started_at"]
    ai = by_name["cs.AI"]
    assert ai["result"] == "error"
    assert ai["last_run"] == ai["last_error"]
    assert ai["last_error"]["http_status"] == 404 and "HTTP 404" in ai["last_error"]["error"]

    page = api.get("/status")
    assert page.status_code == 200
    html = page.text
    assert "in-process" in html
    row_lg = html[html.index('id="status-cs.LG"') : html.index('id="status-cs.AI"')]
    assert '<td class="result">ok</td>' in row_lg
    row_ai = html[html.index('id="status-cs.AI"') : html.index('id="status-cs.RO"')]
    assert '<td class="result">error</td>' in row_ai and "HTTP 404" in row_ai
    assert 'id="queue-fetch">fetch: 0' in html


def test_status_after_a_later_success_keeps_the_last_error(api: TestClient, arxiv: LoopbackServer) -> None:
    arxiv.script("/rss/cs.AI", Reply(404, b"no"), Reply(200, daily_feed("cs.AI")))
    fetch_category.delay("cs.AI")
    fetch_category.delay("cs.AI")
    ai = {c["category"]: c for c in api.get("/api/v1/status").json()["categories"]}["cs.AI"]
    assert ai["result"] == "ok"
    assert ai["last_error"]["http_status"] == 404


def test_queue_depths_unreachable_broker_is_unknown(settings_env: Settings) -> None:
    settings = settings_env.model_copy(update={"redis_url": "redis://127.0.0.1:9/0"})  # nothing listens
    assert queue_depths(settings) == {"fetch": None, "embed": None, "summarize": None}


def test_queue_depths_count_every_priority(settings_env: Settings, redis_url: str) -> None:
    """Tasks waiting on a real Redis, with no worker: summaries carry priorities (their own lists)."""
    settings = settings_env.model_copy(update={"redis_url": redis_url})
    client = client_app(settings)
    try:
        for category in ("cs.LG", "cs.AI"):
            client.send_task("fetch.category", args=[category])
        client.send_task("summarize.paper", args=[1], priority=5)
        client.send_task("summarize.paper", args=[2], priority=0)
        client.send_task("summarize.paper", args=[3], priority=9)
        client.send_task("embed.papers", args=[None])
    finally:
        client.close()
    assert queue_depths(settings) == {"fetch": 2, "embed": 1, "summarize": 3}
