"""Work owed by the pipeline: papers without a vector, summaries no worker is generating.

A worker killed mid-task leaves both behind (its message stays unacknowledged in Redis until the
visibility timeout). The catch-up round (workers/catchup.py) sends the work again; /status and
/metrics report what is left and whether it has waited too long.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
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


def stuck_summaries(session: Session, *, older_than: dt.datetime) -> tuple[list[int], list[int]]:
    """(running, pending) summaries untouched since `older_than`.

    With `older_than` = now - TASK_TIME_LIMIT, a running one has no worker (a task past the hard
    limit is killed, and a live generation writes its row several times a second); a pending one
    has waited longer than any task may run.
    """
    rows = session.execute(
        select(Summary.id, Summary.status)
        .where(
            ((Summary.status == "running") & (Summary.claimed_at < older_than))
            | ((Summary.status == "pending") & (Summary.updated_at < older_than))
        )
        .order_by(Summary.id)
    ).all()
    return [i for i, s in rows if s == "running"], [i for i, s in rows if s == "pending"]


def pipeline_backlog(session: Session, settings: Settings, *, now: dt.datetime | None = None) -> Backlog:
    """The backlog for the configured model, TASK_TIME_LIMIT and BACKLOG_ALERT_SECONDS."""
    now = now or dt.datetime.now(dt.UTC)
    unembedded, oldest = unembedded_papers(session, model=settings.embed_model)
    older_than = now - dt.timedelta(seconds=settings.task_time_limit)
    running, pending = stuck_summaries(session, older_than=older_than)
    return Backlog(unembedded, oldest, len(running) + len(pending), settings.backlog_alert_seconds)
