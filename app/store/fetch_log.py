"""The fetch log: one row per arXiv request, for conditional GETs and the status page."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.store.models import FetchLog


def last_validators(session: Session, url: str) -> tuple[str | None, str | None]:
    """ETag and Last-Modified of the last successful fetch of `url`, for a conditional GET."""
    row = session.execute(
        select(FetchLog.etag, FetchLog.last_modified)
        .where(FetchLog.url == url, FetchLog.error.is_(None), FetchLog.http_status.in_((200, 304)))
        .order_by(FetchLog.started_at.desc(), FetchLog.id.desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row else (None, None)


def add_fetch_log(
    session: Session,
    *,
    url: str,
    category: str | None,
    started_at: dt.datetime,
    http_status: int | None,
    etag: str | None = None,
    last_modified: str | None = None,
    entries_seen: int = 0,
    papers_new: int = 0,
    papers_updated: int = 0,
    listings_added: int = 0,
    error: str | None = None,
) -> FetchLog:
    row = FetchLog(
        url=url,
        category=category,
        started_at=started_at,
        finished_at=dt.datetime.now(dt.UTC),
        http_status=http_status,
        etag=etag,
        last_modified=last_modified,
        entries_seen=entries_seen,
        papers_new=papers_new,
        papers_updated=papers_updated,
        listings_added=listings_added,
        error=error,
    )
    session.add(row)
    session.flush()
    return row


def last_runs(session: Session) -> dict[str, FetchLog]:
    """The latest fetch of each category."""
    latest = (
        select(FetchLog.category, func.max(FetchLog.id).label("id"))
        .where(FetchLog.category.is_not(None))
        .group_by(FetchLog.category)
        .subquery()
    )
    rows = session.scalars(select(FetchLog).join(latest, latest.c.id == FetchLog.id))
    return {row.category or "": row for row in rows}


def last_errors(session: Session) -> dict[str, FetchLog]:
    """The latest failed fetch of each category."""
    latest = (
        select(FetchLog.category, func.max(FetchLog.id).label("id"))
        .where(FetchLog.category.is_not(None), FetchLog.error.is_not(None))
        .group_by(FetchLog.category)
        .subquery()
    )
    rows = session.scalars(select(FetchLog).join(latest, latest.c.id == FetchLog.id))
    return {row.category or "": row for row in rows}
