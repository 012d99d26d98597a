"""Counters of FAQ and PDF opens per paper and day (papers.cool's stars next to each button)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.store.models import DailyCount, Paper
from app.store.upsert import dialect_insert, in_ids

KINDS = ("kimi", "pdf")


def bump_counter(session: Session, *, paper_id: int, kind: str, day: dt.date, delta: int = 1) -> int:
    """Add `delta` to today's counter (created at 0) and return the paper's total for `kind`."""
    stmt = dialect_insert(session, DailyCount).values(paper_id=paper_id, kind=kind, day=day, count=delta)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["paper_id", "kind", "day"], set_={"count": DailyCount.count + stmt.excluded.count}
        )
    )
    total = session.scalar(
        select(func.sum(DailyCount.count)).where(DailyCount.paper_id == paper_id, DailyCount.kind == kind)
    )
    return int(total or 0)


def counter_totals(session: Session, paper_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """{paper id: {"kimi": n, "pdf": m}} for the papers that have any count."""
    if not paper_ids:
        return {}
    rows = session.execute(
        select(DailyCount.paper_id, DailyCount.kind, func.sum(DailyCount.count))
        .where(in_ids(session, DailyCount.paper_id, paper_ids))
        .group_by(DailyCount.paper_id, DailyCount.kind)
    )
    totals: dict[int, dict[str, int]] = {}
    for paper_id, kind, count in rows:
        totals.setdefault(paper_id, {})[kind] = int(count or 0)
    return totals


def counter_totals_by_arxiv_id(session: Session, arxiv_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """{arXiv id: {"kimi": n, "pdf": m}} for the papers among `arxiv_ids` that have any count."""
    if not arxiv_ids:
        return {}
    rows = session.execute(
        select(Paper.arxiv_id, DailyCount.kind, func.sum(DailyCount.count))
        .join(DailyCount, DailyCount.paper_id == Paper.id)
        .where(Paper.arxiv_id.in_(arxiv_ids))
        .group_by(Paper.arxiv_id, DailyCount.kind)
    )
    totals: dict[str, dict[str, int]] = {}
    for arxiv_id, kind, count in rows:
        totals.setdefault(arxiv_id, {})[kind] = int(count or 0)
    return totals
