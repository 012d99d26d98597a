"""What a day's popularity order depends on, read in one aggregate: the counters of its papers.

`?sort=popular` orders a listing by its papers' FAQ and PDF counts (app/ranking/rank.py). The order
changes only when one of those counters does: a counter row is added, or its count grows. So the
number of counter rows of the day's papers and the sum of their counts stamp the order, and a page
in that order can be kept and revalidated like any listing page while nobody opens a paper.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.store.listings import CategoryQuery
from app.store.models import DailyCount, Listing


@dataclass(frozen=True, slots=True)
class PopularityStamp:
    rows: int  # counter rows (paper, kind, day) of the listed papers: a new one adds a row
    opened: int  # their counts summed: every counted opening adds one


def popularity_stamp(session: Session, query: CategoryQuery, *, day: dt.date) -> PopularityStamp:
    """The counters of the papers listed on `day` under `query`, summed over every day they were counted.

    A paper listed in two included categories is counted twice: the same each time, so still a stamp.
    """
    rows, opened = session.execute(
        select(func.count(), func.coalesce(func.sum(DailyCount.count), 0))
        .select_from(Listing)
        .join(DailyCount, DailyCount.paper_id == Listing.paper_id)
        .where(query.listing_filter(), Listing.announced_on == day)
    ).one()
    return PopularityStamp(rows=int(rows), opened=int(opened))
