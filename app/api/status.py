"""GET /api/v1/status: the pipeline per category, the next scheduled round, the queues."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from pydantic import BaseModel

from app.deps import SessionDep, SettingsDep
from app.status import pipeline_status
from app.store.models import FetchLog
from app.store.papers import as_utc

router = APIRouter(tags=["status"])


class FetchRunOut(BaseModel):
    url: str
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    http_status: int | None
    entries_seen: int
    papers_new: int
    papers_updated: int
    listings_added: int
    error: str | None

    @classmethod
    def of(cls, row: FetchLog | None) -> FetchRunOut | None:
        if row is None:
            return None
        return cls(
            url=row.url,
            started_at=as_utc(row.started_at),
            finished_at=as_utc(row.finished_at),
            http_status=row.http_status,
            entries_seen=row.entries_seen,
            papers_new=row.papers_new,
            papers_updated=row.papers_updated,
            listings_added=row.listings_added,
            error=row.error,
        )


class CategoryStatusOut(BaseModel):
    category: str
    result: str  # never | ok | not modified | error
    last_run: FetchRunOut | None
    last_error: FetchRunOut | None


class BacklogOut(BaseModel):
    state: str  # ok | catching up | alert
    unembedded: int
    unembedded_waited_seconds: float
    summaries_stuck: int


class StatusOut(BaseModel):
    mode: str
    next_run: dt.datetime | None
    queues: dict[str, int | None]
    backlog: BacklogOut
    categories: list[CategoryStatusOut]


@router.get("/status")
def get_status(session: SessionDep, settings: SettingsDep) -> StatusOut:
    """Per category: the last fetch, its result and counts, the last error; the next round; queue
    depths; the backlog (papers without a vector, stuck summaries) and its alert state."""
    status = pipeline_status(session, settings)
    return StatusOut(
        mode=status.mode,
        next_run=status.next_run,
        queues=status.queues,
        backlog=BacklogOut(
            state=status.backlog.state(),
            unembedded=status.backlog.unembedded,
            unembedded_waited_seconds=round(status.backlog.waited(), 1),
            summaries_stuck=status.backlog.summaries_stuck,
        ),
        categories=[
            CategoryStatusOut(
                category=c.category,
                result=c.result,
                last_run=FetchRunOut.of(c.last_run),
                last_error=FetchRunOut.of(c.last_error),
            )
            for c in status.categories
        ],
    )
