"""Work owed by the pipeline: papers without a vector, summaries no worker is generating.

A worker killed mid-task leaves both behind (its message stays unacknowledged in Redis until the
visibility timeout; a summary it was generating stops receiving heartbeats). The catch-up round (workers/catchup.py) sends the work again; /status and
/metrics report what is left and whether it has waited too long.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.store.models import Embedding, Paper, Summary
from app.store.papers import as_utc


@dataclass(frozen=True, slots=True)
class Backlog:
    unembedded: int  # papers without a vector for the configured model
    oldest_unembedded: dt.datetime | None  # when the longest-waiting of them was stored
    summaries_stuck: int  # summaries no worker is generating (see `stuck_summaries`)
    alert_after: int  # seconds of waiting that make owed vectors an alert

    def waited(self, now: dt.datetime | None = None) -> float:
        """Seconds the longest-waiting paper without a vector has waited."""
        oldest = as_utc(self.oldest_unembedded)
        if oldest is None:
            return 0.0
        now = now or dt.datetime.now(dt.UTC)
        return max((now - oldest).total_seconds(), 0.0)

    def state(self, now: dt.datetime | None = None) -> str:
        """ok (nothing owed), catching up (owed, not for long), alert (owed too long, or stuck)."""
        if self.summaries_stuck or self.waited(now) > self.alert_after:
            return "alert"
        return "catching up" if self.unembedded else "ok"


def unembedded_papers(session: Session, *, model: str) -> tuple[int, dt.datetime | None]:
    """How many papers have no vector for `model`, and when the oldest of them was stored."""
    has_vector = select(Embedding.paper_id).where(Embedding.model == model, Embedding.paper_id == Paper.id)
    count, oldest = session.execute(
        select(func.count(), func.min(Paper.ingested_at)).where(~has_vector.exists())
    ).one()
    return int(count or 0), oldest


def abandoned(stale_before: dt.datetime) -> ColumnElement[bool]:
    """Running summaries whose generating process last said it was alive before `stale_before`.

    A live generation refreshes heartbeat_at every few seconds (app/summarize/heartbeat.py); a row
    claimed before that column existed falls back on when it was claimed.
    """
    last_sign = func.coalesce(Summary.heartbeat_at, Summary.claimed_at)
    return (Summary.status == "running") & (last_sign < stale_before)


def stuck_summaries(
    session: Session, *, stale_before: dt.datetime, pending_before: dt.datetime
) -> tuple[list[int], list[int]]:
    """(running, pending) summaries no worker is generating.

    Running ones are those whose heartbeat is older than `stale_before` (now - SUMMARY_STALE_SECONDS):
    their process is gone. Pending ones untouched since `pending_before` (now - TASK_TIME_LIMIT) have
    waited longer than any task may run.
    """
    rows = session.execute(
        select(Summary.id, Summary.status)
        .where(
            abandoned(stale_before) | ((Summary.status == "pending") & (Summary.updated_at < pending_before))
        )
        .order_by(Summary.id)
    ).all()
    return [i for i, s in rows if s == "running"], [i for i, s in rows if s == "pending"]


def pipeline_backlog(session: Session, settings: Settings, *, now: dt.datetime | None = None) -> Backlog:
    """The backlog for the configured model, SUMMARY_STALE_SECONDS, TASK_TIME_LIMIT and BACKLOG_ALERT_SECONDS."""
    now = now or dt.datetime.now(dt.UTC)
    unembedded, oldest = unembedded_papers(session, model=settings.embed_model)
    running, pending = stuck_summaries(
        session,
        stale_before=now - dt.timedelta(seconds=settings.summary_stale_seconds),
        pending_before=now - dt.timedelta(seconds=settings.task_time_limit),
    )
    return Backlog(unembedded, oldest, len(running) + len(pending), settings.backlog_alert_seconds)
