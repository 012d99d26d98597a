"""The tasks in the embedded mode (no REDIS_URL: Celery runs them in-process), against arXiv on loopback."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings, get_settings
from app.store.db import session_scope
from app.store.models import CategoryView
from tests.daily_feeds import daily_feed
from tests.loopback import LoopbackServer, Reply
from tests.workers.conftest import (
    EMPTY_FEED,
    FEED,
    FEED_DAY,
    FEED_IDS,
    counts,
    embedded,
    fetch_logs,
    stored_ids,
)
from workers.tasks import enqueue_round, fetch_category, fetch_details_task


def test_fetch_category_stores_logs_and_asks_for_details(arxiv: LoopbackServer) -> None:
    result = fetch_category.delay("cs.LG")
    assert result.state == "SUCCESS", result.traceback
    assert result.result == {
        "category": "cs.LG",
        "day": FEED_DAY,
        "summary": f"4 entries seen, 4 papers new, 0 papers updated, 4 listings added ({FEED_DAY})",
    }
    settings = get_settings()
    assert stored_ids(settings) == sorted(FEED_IDS)
    assert counts(settings) == (4, 4)
    [log] = fetch_logs(settings)
    assert (log.category, log.http_status, log.error) == ("cs.LG", 200, None)
    assert (log.entries_seen, log.papers_new, log.listings_added) == (4, 4, 4)
    # fetch.details ran (eagerly) for the 4 new papers, in one API request.
    [details] = [r for r in arxiv.requests_for("/api/query") if r.param("id_list")]
    assert sorted(details.param("id_list").split(",")) == sorted(FEED_IDS)  # type: ignore[union-attr]
    # ... and embed.papers embedded them (with the fake model here).
    assert embedded(settings) == len(FEED_IDS)
    # ... and fetch.completeness asked the API for the day's cs.LG papers (tests/store/test_completeness.py).
    [search] = [r for r in arxiv.requests_for("/api/query") if r.param("search_query")]
    assert str(search.param("search_query")).startswith("cat:cs.LG AND submittedDate:[")


def test_fetch_category_twice_is_idempotent(arxiv: LoopbackServer) -> None:
    fetch_category.delay("cs.LG")
    again = fetch_category.delay("cs.LG")
    assert again.result["summary"].startswith("4 entries seen, 0 papers new, 0 papers updated, 0 listings")
    assert counts(get_settings()) == (4, 4)
    asked = [sorted(r.query) for r in arxiv.requests_for("/api/query")]
    # nothing changed: no second details request, no second completeness check
    assert sorted(asked) == [
        ["id_list", "max_results", "start"],
        ["max_results", "search_query", "sortBy", "sortOrder", "start"],
    ]


def test_fetch_category_with_the_wrong_day_retries_then_fails(arxiv: LoopbackServer) -> None:
    result = fetch_category.delay("cs.LG", "2026-09-25")
    assert result.state == "FAILURE"
    assert "2026-09-24, not 2026-09-25" in str(result.result)
    assert counts(get_settings()) == (0, 0)
    assert len(arxiv.requests_for("/rss/cs.LG")) == 7  # a stale feed is transient: 6 retries


def test_fetch_category_retries_a_503_then_succeeds(arxiv: LoopbackServer) -> None:
    arxiv.script("/rss/cs.LG", Reply(503, b"busy", {"Retry-After": "0"}), Reply(200, FEED))
    result = fetch_category.delay("cs.LG")
    assert result.state == "SUCCESS", result.traceback
    logs = fetch_logs(get_settings())
    assert [(log.http_status, log.papers_new) for log in logs] == [(503, 0), (200, 4)]
    assert "HTTP 503" in (logs[0].error or "")


def test_fetch_category_does_not_retry_a_404(arxiv: LoopbackServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    result = fetch_category.delay("cs.RO")
    assert result.state == "FAILURE"
    assert len(arxiv.requests_for("/rss/cs.RO")) == 1
    [log] = fetch_logs(get_settings())
    assert (log.category, log.http_status) == ("cs.RO", 404)
    # An expected failure is one warning line: Celery logged it at ERROR with a 50-line traceback.
    assert not [r for r in caplog.records if r.exc_info and r.name.startswith("celery")]
    [said] = [r for r in caplog.records if r.getMessage() == "task failed"]
    assert said.levelno == logging.WARNING and "404" in said.__dict__["error"]


def test_fetch_category_of_an_empty_weekend_feed(arxiv: LoopbackServer) -> None:
    arxiv.script("/rss/cs.LG", Reply(200, EMPTY_FEED))
    result = fetch_category.delay("cs.LG")
    assert result.state == "SUCCESS"
    assert result.result["summary"].startswith("0 entries seen, 0 papers new")
    assert counts(get_settings()) == (0, 0)
    assert arxiv.requests_for("/api/query") == []


def test_fetch_details_of_unknown_ids_changes_nothing(arxiv: LoopbackServer) -> None:
    result = fetch_details_task.delay(["2609.26811", "2609.26820"])
    assert result.result == {"requested": 2, "updated": 0}


def test_enqueue_round_covers_configured_and_recently_opened(
    arxiv: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARXIV_CATEGORIES", "cs.LG,cs.AI")
    monkeypatch.setenv("FOLLOW_OPENED_DAYS", "7")
    get_settings.cache_clear()
    today = dt.date.today()
    with session_scope(get_settings()) as session:
        session.add_all(
            [
                CategoryView(category="cs.RO", last_opened_on=today - dt.timedelta(days=2)),
                CategoryView(category="math.CO", last_opened_on=today - dt.timedelta(days=30)),
                CategoryView(category="cs.LG", last_opened_on=today),
            ]
        )
    for category in ("cs.AI", "cs.RO"):
        arxiv.script(f"/rss/{category}", Reply(200, daily_feed(category, empty=True)))
    ids = enqueue_round()
    assert len(ids) == 3
    assert [r.path for r in arxiv.requests if r.path.startswith("/rss/")] == [
        "/rss/cs.LG",
        "/rss/cs.AI",
        "/rss/cs.RO",
    ]


def test_schedule_once_runs_a_round_in_process(
    arxiv: LoopbackServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ARXIV_CATEGORIES", "cs.LG")
    monkeypatch.setenv("FOLLOW_OPENED_DAYS", "0")
    get_settings.cache_clear()
    caplog.set_level(logging.WARNING)
    result = CliRunner().invoke(cli, ["schedule", "--once"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "1 categories run in-process"
    assert counts(get_settings()) == (4, 4)
    # kombu warned "No hostname was supplied" of the in-memory broker on every run.
    assert [r.getMessage() for r in caplog.records if r.name.startswith("kombu")] == []


def test_schedule_once_says_each_failed_category_and_exits_1(
    arxiv: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It printed "2 categories run in-process" and exited 0 when every fetch failed, after two
    tracebacks per failure from Celery's log (77 KB of stderr for 5 categories)."""
    monkeypatch.setenv("ARXIV_CATEGORIES", "cs.LG,cs.AI")
    monkeypatch.setenv("FOLLOW_OPENED_DAYS", "0")
    monkeypatch.setenv("ARXIV_RSS_URL", "http://127.0.0.1:9/refused")  # the discard port: nothing listens
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["schedule", "--once"])
    assert result.exit_code == 1
    assert result.stdout.strip() == "2 categories run in-process, 2 failed"
    failures = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert [line.split(":")[1].strip() for line in failures] == ["cs.LG", "cs.AI"]
    assert "Traceback" not in result.stderr


def test_settings_env_has_no_redis(settings_env: Settings) -> None:
    """The eager tests rely on it: without REDIS_URL, tasks run in this process."""
    from workers.celery_app import app

    assert settings_env.redis_url is None
    assert app.conf.task_always_eager is True
