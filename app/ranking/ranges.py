"""Time views: a category's papers of the week or the month up to a day, by popularity or arXiv order.

`?range=week|month` on listings. The range's new papers and cross-lists (replacements are older
papers) are read as ids first, ordered, and only the page's papers are loaded: a month of a busy
category is ~10,000 papers. "For you" is served in popularity order; the page re-ranks what it
holds through POST /api/v1/rank, as it does a day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import InvalidQueryError
from app.ranking.rank import rank_popular
from app.store.counters import counter_totals
from app.store.listings import CategoryQuery, latest_day
from app.store.models import Listing, Paper

RANGES = {"week": 7, "month": 30}
RANGE_SORTS = ("popular", "foryou", "arxiv", "time")
RANGE_MAX_PAPERS = 20_000  # papers of a range considered at most (the newest days first)
RANGE_MAX_SHOW = 500  # papers on one page of a range


@dataclass(frozen=True, slots=True)
class RangeListing:
    range: str
    first_day: dt.date | None  # the range's days: (last_day - span, last_day]
    last_day: dt.date | None
    papers: list[Paper]  # the page, in order
    total: int


def check_range(range_: str, sort: str) -> str:
    """The sort a range view uses ("popular" by default); InvalidQueryError for a bad range or sort."""
    if range_ not in RANGES:
        raise InvalidQueryError(f"range: one of {', '.join(RANGES)}, not {range_[:20]!r}")
    sort = sort.strip() or "popular"
    if sort not in RANGE_SORTS:
        raise InvalidQueryError(f"a {range_} view sorts by {', '.join(RANGE_SORTS)}, not {sort[:40]!r}")
    return sort


def range_listing(
    session: Session,
    query: CategoryQuery,
    *,
    range_: str,
    sort: str,
    day: dt.date | None,
    skip: int,
    limit: int,
) -> RangeListing:
    """The page `skip`..`skip + limit` (at most RANGE_MAX_SHOW) of the range ending at `day` (default:
    the category's latest day), sorted by `sort` (check_range's)."""
    sort = check_range(range_, sort)
    last = day or latest_day(session, query)
    if last is None:
        return RangeListing(range_, None, None, [], 0)
    # A range reaching before the first date starts at it (a day near 0001-01-01 is a reader's to ask).
    first = dt.date.fromordinal(max(1, last.toordinal() - (RANGES[range_] - 1)))
    rows = session.execute(
        select(Listing.paper_id, Listing.announced_on, Listing.position, Paper.published_at, Paper.categories)
        .join(Paper, Paper.id == Listing.paper_id)
        .where(query.listing_filter(), Listing.announced_on >= first, Listing.announced_on <= last)
        .where(Listing.announce_type.in_(("new", "cross")))
        .order_by(Listing.announced_on.desc(), Listing.announce_type.desc(), Listing.position)
        .limit(RANGE_MAX_PAPERS * 2)  # a paper cross-listed in two included categories is read twice
    ).all()
    order: dict[int, dt.datetime | None] = {}  # arXiv order: newest day first, new before cross
    for paper_id, _, _, published_at, categories in rows:
        if paper_id not in order and not (query.exclude and query.excludes(categories or [])):
            order[paper_id] = published_at
    ids = list(order)[:RANGE_MAX_PAPERS]
    if sort in ("popular", "foryou"):
        ids = rank_popular(ids, counter_totals(session, ids))
    elif sort == "time":
        ids.sort(key=lambda pid: _timestamp(order[pid]), reverse=True)
    page = ids[skip : skip + min(limit, RANGE_MAX_SHOW)]
    papers = {p.id: p for p in session.scalars(select(Paper).where(Paper.id.in_(page)))}
    return RangeListing(range_, first, last, [papers[pid] for pid in page if pid in papers], len(ids))


def _timestamp(published_at: dt.datetime | None) -> float:
    return published_at.timestamp() if published_at is not None else 0.0
