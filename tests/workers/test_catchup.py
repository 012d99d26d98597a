"""The catch-up round's choices (workers/catchup.py); tests/topology runs it against killed workers."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from app.config import Settings
from app.store.models import FetchLog, Summary
from app.summarize.service import SUMMARY_ATTEMPTS, release_abandoned
from tests.store.test_backlog import _papers, _summary
from workers.catchup import missed_categories

THURSDAY_NOON = dt.datetime(2026, 9, 24, 12, 0, tzinfo=dt.UTC)


def _fetched(session: Session, category: str, at: dt.datetime) -> None:
    session.add(
        FetchLog(
            url=f"https://rss.arxiv.org/rss/{category}", category=category, started_at=at, http_status=200
        )
    )
    session.flush()


def test_missed_categories_are_those_not_fetched_since_the_last_round(session: Session) -> None:
    settings = Settings(
        arxiv_categories=("cs.LG", "cs.CL", "cs.AI"), schedule_times=("07:30",), follow_opened_days=0
    )
    _fetched(session, "cs.LG", THURSDAY_NOON.replace(hour=7, minute=31))  # this round's
    _fetched(session, "cs.CL", THURSDAY_NOON - dt.timedelta(days=1))  # yesterday's only
    assert missed_categories(session, settings, now=THURSDAY_NOON) == ["cs.CL", "cs.AI"]
    # A round due a few minutes ago may still be on its way: nothing is owed yet.
    assert missed_categories(session, settings, now=THURSDAY_NOON.replace(hour=7, minute=35)) == []


def test_summaries_interrupted_too_often_fail_with_a_reason(session: Session) -> None:
    paper = _papers(session)[0]
    old = THURSDAY_NOON - dt.timedelta(hours=1)
    tried_often = _summary(session, paper, status="running", touched=old, lang="en")
    tried_once = _summary(session, paper, status="running", touched=old, lang="fr")
    session.get(Summary, tried_often).attempts = SUMMARY_ATTEMPTS  # type: ignore[union-attr]
    session.flush()
    released, failed_ids = release_abandoned(session, Settings(), now=THURSDAY_NOON)
    assert (released, failed_ids) == ([tried_once], [tried_often])
    session.expire_all()
    failed = session.get(Summary, tried_often)
    assert failed is not None and failed.status == "failed" and "interrupted" in (failed.error or "")
    assert session.get(Summary, tried_once).status == "pending"  # type: ignore[union-attr]


def test_a_missed_category_is_sent_once_by_rounds_run_together(redis_url: str) -> None:
    """Each worker sends a catch-up round as it starts: two started together (as Compose starts them)
    each sent the missed category's fetch, and arXiv was asked twice at once."""
    from workers.catchup import _first_to_send

    with_redis = Settings(_env_file=None, redis_url=redis_url)  # type: ignore[call-arg]
    assert _first_to_send(with_redis, "cs.LG") is True
    assert _first_to_send(with_redis, "cs.LG") is False  # the other worker's round, a moment later
    assert _first_to_send(with_redis, "cs.CV") is True
    in_process = Settings(_env_file=None, redis_url=None)  # type: ignore[call-arg]
    assert _first_to_send(in_process, "cs.LG") is _first_to_send(in_process, "cs.LG") is True
