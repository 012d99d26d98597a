"""GET /api/v1/categories and /api/v1/listings/{cats}."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from app.answers import keep_answer, request_key
from app.api.schemas import (
    INVALID_INPUT,
    CategoryPublic,
    IsoDate,
    ListedPaperPublic,
    ListingPage,
    PaperPublic,
)
from app.deps import SessionDep
from app.store.listings import category_days, parse_category_expression, read_listing

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

    Asked again within PAGE_FRESH_SECONDS, the same answer is given without the database.
    """
    body = _listing_page(session, cats, date=date, skip=skip, limit=limit).model_dump_json().encode()
    keep_answer(request_key(request), body, JSON)
    return Response(body, media_type=JSON, headers={"Vary": "Accept-Encoding"})


def _listing_page(session: Session, cats: str, *, date: dt.date | None, skip: int, limit: int) -> ListingPage:
    listing = read_listing(session, parse_category_expression(cats), day=date)
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
