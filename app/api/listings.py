"""GET /api/v1/categories and /api/v1/listings/{cats}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

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


@router.get("/categories")
def list_categories(session: SessionDep) -> list[CategoryPublic]:
    """Every category with papers, its latest announcement day and that day's count."""
    return [
        CategoryPublic(category=c.category, latest_date=c.day, count=c.count) for c in category_days(session)
    ]


@router.get("/listings/{cats}")
def get_listing(
    session: SessionDep,
    cats: str,
    date: Annotated[IsoDate | None, Query(description="announcement day; default the latest")] = None,
    skip: Annotated[int, Query(ge=0, le=100_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ListingPage:
    """One announcement day of `cats` (`cs.AI`, `cs`, `cs.AI,cs.CL`, `cs.AI+cs.LG-cs.CY`)."""
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
