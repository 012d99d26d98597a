"""A summary whose generating process died is generated again within seconds, not TASK_TIME_LIMIT.

The process generating a summary refreshes its heartbeat; a claim whose heartbeat went stale
(SUMMARY_STALE_SECONDS) is abandoned: claimed again by exactly one claimant, requeued by the
catch-up round, started over for a reader waiting on it. Real SQLite database, real loopback model;
tests/topology kills a real worker.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from app.config import Settings, get_settings
from app.store.db import session_scope
from app.store.models import Paper, Summary
from app.summarize.dispatch import STALE_MARGIN
from app.summarize.generate import generate_summary
from app.summarize.service import SUMMARY_ATTEMPTS, claim_summary, prompt_for, request_summary
from tests.llm_server import FakeLLMServer
from workers.catchup import owed_summaries

PAPER = "2609.26811"
SITE = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def stale3(configured: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The smallest staleness window (3 s): a heartbeat every 0.5 s."""
    monkeypatch.setenv("SUMMARY_STALE_SECONDS", "3")
    get_settings.cache_clear()
    return get_settings()


def _new_summary(settings: Settings, *, lang: str = "en") -> int:
    with session_scope(settings) as session:
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == PAPER))
        assert paper is not None
        row, enqueue = request_summary(session, settings, paper=paper, lang=lang, requester="test")
        assert enqueue
        return row.id


def _claim(settings: Settings, summary_id: int) -> int | None:
    with session_scope(settings) as session:
        return claim_summary(session, settings, summary_id)


def _row(settings: Settings, summary_id: int) -> Summary:
    with session_scope(settings) as session:
        row = session.get(Summary, summary_id)
        assert row is not None
        session.expunge(row)
        return row


def _silent_for(settings: Settings, summary_id: int, seconds: float) -> None:
    """As if the claimant's last heartbeat was `seconds` ago (its process then killed)."""
    at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)
    with session_scope(settings) as session:
        session.execute(update(Summary).where(Summary.id == summary_id).values(heartbeat_at=at))


def test_claim_takes_a_pending_summary_and_a_fresh_heartbeat_keeps_it(configured: Settings) -> None:
    summary_id = _new_summary(configured)
    assert _claim(configured, summary_id) == 1
    row = _row(configured, summary_id)
    assert row.status == "running" and row.heartbeat_at is not None
    assert _claim(configured, summary_id) is None  # its claimant beats: nobody else generates it
    _silent_for(configured, summary_id, configured.summary_stale_seconds - 5)
    assert _claim(configured, summary_id) is None  # quiet, but not for long enough


def test_a_stale_heartbeat_is_claimed_again_by_exactly_one_claimant(configured: Settings) -> None:
    summary_id = _new_summary(configured)
    assert _claim(configured, summary_id) == 1
    _silent_for(configured, summary_id, configured.summary_stale_seconds + 1)  # far below TASK_TIME_LIMIT
    start, claims = threading.Barrier(8), []

    def claimant() -> None:
        start.wait()
        claims.append(_claim(configured, summary_id))

    threads = [threading.Thread(target=claimant) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claims, key=str) == [2, *[None] * 7]
    assert _row(configured, summary_id).attempts == 2


def test_a_summary_abandoned_too_often_is_not_claimed_again(configured: Settings) -> None:
    summary_id = _new_summary(configured)
    for attempt in range(1, SUMMARY_ATTEMPTS + 1):
        assert _claim(configured, summary_id) == attempt
        _silent_for(configured, summary_id, configured.summary_stale_seconds + 1)
    assert _claim(configured, summary_id) is None  # the catch-up round fails it, with a reason


def test_catch_up_requeues_an_abandoned_summary_and_rechecks_a_live_one(configured: Settings) -> None:
    abandoned, live = _new_summary(configured), _new_summary(configured, lang="zh")
    assert _claim(configured, abandoned) == 1 and _claim(configured, live) == 1
    _silent_for(configured, abandoned, configured.summary_stale_seconds + 1)
    _silent_for(configured, live, 10)
    now = dt.datetime.now(dt.UTC)
    with session_scope(configured) as session:
        now_ids, failed, later = owed_summaries(session, configured, now=now, queue_busy=True)
    assert (now_ids, failed, list(later)) == ([abandoned], [], [live])
    # The live one is looked at again just after its heartbeat would go stale, should it stop now.
    assert later[live] == pytest.approx(configured.summary_stale_seconds - 10 + STALE_MARGIN, abs=1)
    row = _row(configured, abandoned)
    assert (row.status, row.content) == ("pending", [])  # a reader sees it start over
    with session_scope(configured) as session:  # a second round finds nothing more to send
        assert owed_summaries(session, configured, now=now, queue_busy=True)[0] == []
    assert generate_summary(configured, abandoned) == "ready"
    assert _row(configured, abandoned).attempts == 2


def test_a_silent_model_does_not_make_a_live_generation_look_abandoned(stale3: Settings) -> None:
    """No answer for 4 s (longer than the window): the heartbeat thread keeps the claim."""
    summary_id = _new_summary(stale3)
    with FakeLLMServer(first_token_delay=4.0) as slow:
        settings = stale3.model_copy(update={"llm_base_url": slow.base_url})
        outcome: list[str] = []
        worker = threading.Thread(target=lambda: outcome.append(generate_summary(settings, summary_id)))
        worker.start()
        assert slow.wait_for_requests(1, timeout=5)
        time.sleep(3.5)
        assert slow.generations == 0 and _claim(settings, summary_id) is None
        row = _row(settings, summary_id)
        assert row.heartbeat_at is not None and row.claimed_at is not None
        assert row.heartbeat_at > row.claimed_at
        slow.close()  # releases the held answer: the generation ends (failed or not), once
        worker.join(timeout=30)
    assert outcome and outcome[0] in ("ready", "failed") and _row(settings, summary_id).attempts == 1


def test_a_generation_taken_over_stops_without_writing(stale3: Settings) -> None:
    summary_id = _new_summary(stale3)
    with FakeLLMServer(chunk_words=1, chunk_delay=0.2) as slow:
        settings = stale3.model_copy(update={"llm_base_url": slow.base_url})
        outcome: list[str] = []
        worker = threading.Thread(target=lambda: outcome.append(generate_summary(settings, summary_id)))
        worker.start()
        assert slow.wait_for_requests(1, timeout=5)
        # Another process judged it abandoned and claimed it (attempt 2), then wrote its own answers.
        with session_scope(settings) as session:
            session.execute(
                update(Summary)
                .where(Summary.id == summary_id)
                .values(attempts=2, content=[{"question": "q", "answer": "the new claimant's"}])
            )
        worker.join(timeout=30)
    assert outcome == ["skipped"]
    row = _row(settings, summary_id)
    assert (row.status, row.content) == ("running", [{"question": "q", "answer": "the new claimant's"}])


@pytest.fixture
def site(stale3: Settings) -> Iterator[TestClient]:
    from app.main import create_app

    with TestClient(create_app(), raise_server_exceptions=False, headers=SITE) as test_client:
        yield test_client


def test_a_reader_waiting_on_an_abandoned_summary_sees_it_start_over(
    site: TestClient, stale3: Settings, llm: FakeLLMServer
) -> None:
    """The embedded pool (no Redis): the process that claimed it died a moment ago (heartbeat 1 s
    old, not stale yet); the reader's stream waits, sees it start over when it goes stale, then ready."""
    summary_id = _new_summary(stale3)
    assert _claim(stale3, summary_id) == 1
    _silent_for(stale3, summary_id, 1)
    started = time.monotonic()
    with site.stream("GET", f"/api/v1/papers/{PAPER}/summary?stream=true") as stream:
        body = "".join(stream.iter_text())
    assert time.monotonic() - started < 15
    statuses = [
        line.split('"status": "')[1].split('"')[0] for line in body.splitlines() if '"status": "' in line
    ]
    assert statuses[0] == "running" and statuses[-1] == "ready", statuses  # never "running" for good
    row = _row(stale3, summary_id)
    questions = len(prompt_for(stale3, "en").questions)
    assert (row.status, row.attempts, len(row.content), llm.generations) == ("ready", 2, questions, questions)


def test_reopening_an_abandoned_summary_restarts_it_once(
    site: TestClient, stale3: Settings, llm: FakeLLMServer
) -> None:
    summary_id = _new_summary(stale3)
    assert _claim(stale3, summary_id) == 1
    _silent_for(stale3, summary_id, 10)
    answers = [site.get(f"/api/v1/papers/{PAPER}/summary").json()["status"] for _ in range(5)]
    assert answers[0] in ("pending", "running") and "failed" not in answers
    deadline = time.monotonic() + 15
    while _row(stale3, summary_id).status != "ready" and time.monotonic() < deadline:
        time.sleep(0.05)
    questions = len(prompt_for(stale3, "en").questions)
    row = _row(stale3, summary_id)
    assert (row.status, row.attempts, llm.generations) == ("ready", 2, questions)


def test_the_embedded_pool_resumes_at_start_what_a_killed_process_left_running(
    stale3: Settings, llm: FakeLLMServer
) -> None:
    """`make run` killed mid-generation and started again: with no reader asking, the new process
    generates the summary once its heartbeat is stale (as a worker's catch-up does with Redis)."""
    from app.main import create_app

    stale, fresh = _new_summary(stale3), _new_summary(stale3, lang="zh")
    assert _claim(stale3, stale) == 1 and _claim(stale3, fresh) == 1
    _silent_for(stale3, stale, 60)  # killed long ago
    _silent_for(stale3, fresh, 1)  # killed a moment ago: judged when its heartbeat goes stale
    started = time.monotonic()
    with TestClient(create_app(), raise_server_exceptions=False):
        deadline = started + 15
        while time.monotonic() < deadline and {_row(stale3, i).status for i in (stale, fresh)} != {"ready"}:
            time.sleep(0.05)
    assert [(_row(stale3, i).status, _row(stale3, i).attempts) for i in (stale, fresh)] == [("ready", 2)] * 2
