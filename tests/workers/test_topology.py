"""The production topology as plain processes (what docker-compose.yml runs, without Docker):
the database, Redis, `uvicorn app.main:app`, `celery worker` and `celery beat` -> the day's listing.

Skipped without TEST_REDIS_URL; PostgreSQL under `make test` / tests/services.sh, else SQLite.
"""

from __future__ import annotations

import sys

import httpx
import pytest

from app.config import get_settings
from tests.loopback import LoopbackServer
from tests.workers.conftest import FEED_DAY, FEED_IDS, Cluster, free_port, wait_for

# `celery beat` on the real app, with the production entries firing every 2 s instead of twice a day.
BEAT = """
from workers.celery_app import app
app.conf.beat_schedule = {
    name: {**entry, "schedule": 2.0, "options": {**entry["options"], "expires": 1.5}}
    for name, entry in app.conf.beat_schedule.items()
}
app.start(["beat", "--loglevel=INFO", "--max-interval=1"])
"""


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=5)
    except httpx.TransportError:
        return None


def test_beat_worker_and_web_serve_the_day(
    cluster: Cluster, arxiv: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARXIV_CATEGORIES", "cs.LG")
    monkeypatch.setenv("FOLLOW_OPENED_DAYS", "0")
    get_settings.cache_clear()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]
    cluster.start("web", [*web, "--workers", "2"], cluster.env())
    cluster.start("beat", [sys.executable, "-c", BEAT], cluster.env())
    cluster.worker("worker")
    health = wait_for(lambda: _get(f"{base}/healthz"), timeout=30, what="uvicorn", logs=cluster.logs)
    assert health.text == "ok"

    def listing() -> str | None:
        page = _get(f"{base}/arxiv/cs.LG")
        if page is None or page.status_code != 200 or not all(i in page.text for i in FEED_IDS):
            return None
        return page.text

    html = wait_for(listing, timeout=40, what="the listing page to show the day", logs=cluster.logs)
    assert FEED_DAY in html
    # After the round's fetch.category, the worker asks the API for the new papers' details.
    wait_for(lambda: arxiv.requests_for("/api/query"), timeout=20, what="fetch.details", logs=cluster.logs)

    status = httpx.get(f"{base}/api/v1/status", timeout=5).json()
    assert status["mode"] == "celery"
    assert all(isinstance(depth, int) for depth in status["queues"].values()), status["queues"]
    [lg] = status["categories"]
    assert (lg["category"], lg["result"], lg["last_error"]) == ("cs.LG", "ok", None)
    api = httpx.get(f"{base}/api/v1/listings/cs.LG", timeout=5).json()
    assert (api["date"], api["total"]) == (FEED_DAY, len(FEED_IDS))
