"""The `?range=week|month` form of GET /api/v1/listings/{cats}: a range's top papers."""

from __future__ import annotations

import datetime as dt

from fastapi import Response
from sqlalchemy.orm import Session

from app.api.schemas import Page, PaperPublic
from app.ranking.ranges import RANGE_MAX_SHOW, range_listing
from app.store.listings import CategoryQuery


class RangePage(Page[PaperPublic]):
    categories: str
    range: str
    sort: str
    first_date: dt.date | None
    last_date: dt.date | None


def range_page(
    session: Session,
    query: CategoryQuery,
    cats: str,
    *,
    range_: str,
    sort: str,
    day: dt.date | None,
    skip: int,
    limit: int,
) -> Response:
    limit = min(limit, RANGE_MAX_SHOW)
    found = range_listing(session, query, range_=range_, sort=sort, day=day, skip=skip, limit=limit)
    page = RangePage(
        items=[PaperPublic.of(p) for p in found.papers],
        total=found.total,
        limit=limit,
        offset=skip,
        categories=cats,
        range=found.range,
        sort=sort.strip() or "popular",
        first_date=found.first_day,
        last_date=found.last_day,
    )
    # Popularity moves with every count: never stored by the client or a shared cache.
    headers = {"Cache-Control": "no-store"}
    return Response(page.model_dump_json(), media_type="application/json", headers=headers)
