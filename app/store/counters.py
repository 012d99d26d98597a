"""Counters of FAQ and PDF opens per paper and day (papers.cool's stars next to each button)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.store.models import Counter
from app.store.upsert import dialect_insert, in_ids

KINDS = ("kimi", "pdf")


def bump_counter(session: Session, *, paper_id: int, kind: str, day: dt.date, delta: int = 1) -> int:
    """Add `delta` to today's counter (created at 0) and return the paper's total for `kind`."""
    stmt = dialect_insert(session, Counter).values(paper_id=paper_id, kind=kind, day=day, count=delta)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["paper_id", "kind", "day"], set_={"count": Counter.count + stmt.excluded.count}
        )
    )
    total = session.scalar(
        select(func.sum(Counter.count)).where(Counter.paper_id == paper_id, Counter.kind == kind)
    )
    return int(total or 0)


def counter_totals(session: Session, paper_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """{paper id: {"kimi": n, "pdf": m}} for the papers that have any count."""
    if not paper_ids:
        return {}
    rows = session.execute(
        select(Counter.paper_id, Counter.kind, func.sum(Counter.count))
        .where(in_ids(session, Counter.paper_id, paper_ids))
        .group_by(Counter.paper_id, Counter.kind)
    )
    totals: dict[int, dict[str, int]] = {}
    for paper_id, kind, count in rows:
        totals.setdefault(paper_id, {})[kind] = int(count or 0)
    return totals
