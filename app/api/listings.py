"""GET /api/v1/categories and /api/v1/listings/{cats}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from app.api.schemas import (
    INVALID_INPUT,
    CategoryPublic,
    IsoDate,
    ListedPaperPublic,
    ListingPage,
    PaperPublic,
)
from app.config import get_settings
from app.deps import SessionDep
from app.httpcache import kept_or_made, validate
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


@router.get("/listings/{cats}", response_model=ListingPage)
def get_listing(
    request: Request,
    session: SessionDep,
    cats: str,
    date: Annotated[IsoDate | None, Query(description="announcement day; default the latest")] = None,
    skip: Annotated[int, Query(ge=0, le=100_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """One announcement day of `cats` (`cs.AI`, `cs`, `cs.AI,cs.CL`, `cs.AI+cs.LG-cs.CY`).

    Sent with an ETag from the day's stamp: a client holding this version gets a 304.
    """
    query = parse_category_expression(cats)
    stamp = stamp_of(session, query, day=date)
    checked = validate(request, stamp=stamp, fresh_seconds=get_settings().page_fresh_seconds)
    if checked.not_modified:
        return checked.not_modified
    # Kept by URL in the one cache of costly responses (app/httpcache.py) while the stamp holds.
    return kept_or_made(
        request,
        checked,
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
