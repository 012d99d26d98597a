"""GET /api/v1/categories and /api/v1/listings/{cats}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from app.api.ranges import RangePage, range_page
from app.api.schemas import (
    INVALID_INPUT,
    CategoryPublic,
    ListedPaperPublic,
    ListingPage,
    PaperPublic,
)
from app.config import get_settings
from app.deps import IsoDate, SessionDep
from app.errors import InvalidQueryError
from app.httpcache import validate
from app.renders import HeavyRender, kept_or_rendered, on_page_threads
from app.store.listings import (
    CategoryQuery,
    DayStamp,
    category_days,
    parse_category_expression,
    stamp_of,
    stamped_listing,
)

router = APIRouter(tags=["listings"], responses=INVALID_INPUT)
JSON = "application/json"


@router.get("/categories")
def list_categories(session: SessionDep) -> list[CategoryPublic]:
    """Every category with papers, its latest announcement day and that day's count."""
    return [
        CategoryPublic(category=c.category, latest_date=c.day, count=c.count) for c in category_days(session)
    ]


@router.get("/listings/{cats}", response_model=ListingPage | RangePage)
@on_page_threads
def get_listing(
    request: Request,
    session: SessionDep,
    cats: str,
    date: Annotated[IsoDate | None, Query(description="announcement day; default the latest")] = None,
    skip: Annotated[int, Query(ge=0, le=100_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    range_: Annotated[
        str | None, Query(alias="range", max_length=20, description="week | month: the range's top papers")
    ] = None,
    sort: Annotated[
        str,
        Query(
            max_length=20,
            description="with `range`: popular (default) | foryou | arxiv | time; a day: arxiv only",
        ),
    ] = "",
) -> Response | HeavyRender[Response]:
    """One announcement day of `cats` (`cs.AI`, `cs`, `cs.AI,cs.CL`, `cs.AI+cs.LG-cs.CY`), or with
    `range` the week's or month's papers up to `date` (at most 500 a page; popularity order changes
    with every count: not cached).

    A day is sent with an ETag from its stamp: a client holding this version gets a 304.
    """
    query = parse_category_expression(cats)
    if range_ is None and sort.strip() not in ("", "arxiv"):
        # Said, not ignored: a client asking a day for `popular` would otherwise take arXiv's order for it.
        raise InvalidQueryError(f"sort ({sort[:20]!r}) needs range=week|month: a day comes in arXiv's order")
    if range_ is not None:
        return range_page(session, query, cats, range_=range_, sort=sort, day=date, skip=skip, limit=limit)
    stamp = stamp_of(session, query, day=date)
    checked = validate(request, stamp=stamp, fresh_seconds=get_settings().page_fresh_seconds)
    if checked.not_modified:
        return checked.not_modified
    # Kept by URL in the one cache of costly responses (app/httpcache.py) while the stamp holds; the
    # whole day is read (its sections order it), so a big day's render takes a slot (app/renders.py).
    return kept_or_rendered(
        request,
        checked,
        stamp.count if stamp else 0,
        media_type=JSON,
        make=lambda: (
            _listing_page(session, query, cats, stamp=stamp, skip=skip, limit=limit)
            .model_dump_json()
            .encode()
        ),
    )


def _listing_page(
    session: Session, query: CategoryQuery, cats: str, *, stamp: DayStamp | None, skip: int, limit: int
) -> ListingPage:
    listing = stamped_listing(session, query, stamp)
    items = [
        ListedPaperPublic(**PaperPublic.of(p.paper).model_dump(), section=p.section)
        for p in listing.papers[skip : skip + limit]
    ]
    return ListingPage(
        items=items,
        total=len(listing.papers),
        limit=limit,
        offset=skip,
        categories=cats,
        date=listing.day,
        prev_date=listing.prev_day,
        next_date=listing.next_day,
    )
