"""The backlog: papers without a vector, summaries no worker is generating, and its alert state."""

from __future__ import annotations

import datetime as dt

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.arxiv.parse import parse_feed
from app.config import Settings
from app.store.backlog import Backlog, pipeline_backlog, stuck_summaries, unembedded_papers
from app.store.embeddings import add_embeddings
from app.store.ingest import ingest_feed
from app.store.models import Paper, Summary
from tests.conftest import DATA

RSS2 = DATA / "rss" / "rss2-2024-multicat-csLG+csAI+csCL+statML.xml"
NOW = dt.datetime(2026, 9, 24, 12, 0, tzinfo=dt.UTC)


def _papers(session: Session) -> list[Paper]:
    ingest_feed(session, feed=parse_feed(RSS2.read_bytes()))
    return list(session.scalars(select(Paper).order_by(Paper.id)))


def _summary(
    session: Session,
    paper: Paper,
    *,
    status: str,
    touched: dt.datetime,
    lang: str,
    heartbeat: dt.datetime | None = None,
) -> int:
    row = Summary(
        paper_id=paper.id, model="m", prompt_version="v", lang=lang, status=status, content=[], requester="r",
        attempts=1, prompt_tokens=0, completion_tokens=0, created_at=touched, updated_at=touched,
        claimed_at=touched if status == "running" else None, heartbeat_at=heartbeat,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row.id


def test_unembedded_papers_counts_those_without_a_vector_of_the_model(session: Session) -> None:
    papers = _papers(session)
    count, oldest = unembedded_papers(session, model="mini")
    assert count == len(papers) and oldest is not None
    add_embeddings(session, model="mini", rows=[(p.id, np.ones(4, dtype=np.float32)) for p in papers[1:]])
    add_embeddings(session, model="other", rows=[(papers[0].id, np.ones(4, dtype=np.float32))])
    assert unembedded_papers(session, model="mini")[0] == 1
    assert unembedded_papers(session, model="other")[0] == len(papers) - 1


def test_stuck_summaries_are_running_ones_without_heartbeat_and_pending_ones_past_the_limit(
    session: Session,
) -> None:
    paper = _papers(session)[0]
    old, recent = NOW - dt.timedelta(hours=1), NOW - dt.timedelta(seconds=10)
    # Claimed a minute ago, silent since: its worker is gone, long before TASK_TIME_LIMIT.
    lost_running = _summary(
        session, paper, status="running", touched=recent, heartbeat=NOW - dt.timedelta(seconds=60), lang="en"
    )
    # Claimed an hour ago and beating: a long generation, alive.
    _summary(
        session, paper, status="running", touched=old, heartbeat=NOW - dt.timedelta(seconds=3), lang="fr"
    )
    lost_pending = _summary(session, paper, status="pending", touched=old, lang="de")
    _summary(session, paper, status="pending", touched=recent, lang="it")  # waiting in the queue
    _summary(session, paper, status="ready", touched=old, lang="es")
    # Claimed before heartbeats existed: judged by when it was claimed.
    lost_unbeating = _summary(session, paper, status="running", touched=old, lang="pt")
    running, pending = stuck_summaries(
        session, stale_before=NOW - dt.timedelta(seconds=30), pending_before=NOW - dt.timedelta(seconds=1200)
    )
    assert (running, pending) == ([lost_running, lost_unbeating], [lost_pending])


def test_backlog_state_alerts_when_vectors_wait_too_long_or_summaries_are_stuck(session: Session) -> None:
    assert Backlog(0, None, 0, 900).state(NOW) == "ok"
    assert Backlog(5, NOW - dt.timedelta(seconds=60), 0, 900).state(NOW) == "catching up"
    assert Backlog(5, NOW - dt.timedelta(seconds=901), 0, 900).state(NOW) == "alert"
    assert Backlog(0, None, 1, 900).state(NOW) == "alert"
    _papers(session)
    settings = Settings(embed_model="mini", task_time_limit=1200, backlog_alert_seconds=900)
    backlog = pipeline_backlog(session, settings)
    assert backlog.unembedded == 4 and backlog.summaries_stuck == 0 and backlog.state() == "catching up"
