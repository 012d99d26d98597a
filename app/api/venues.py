"""GET /api/v1/venues (every stored edition) and /api/v1/venues/{venue}/{year} (an edition, paged)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel

from app.api.schemas import INVALID_INPUT, ErrorOut, Page, PaperPublic
from app.config import get_settings
from app.deps import SessionDep
from app.errors import NotFoundError
from app.httpcache import validate
from app.renders import HeavyRender, kept_or_rendered, on_page_threads
from app.store.venues import edition_count, edition_papers, edition_stamp, edition_summaries, stored_venue

router = APIRouter(tags=["venues"], responses=INVALID_INPUT)
JSON = "application/json"


class GroupPublic(BaseModel):
    group: str
    count: int


class EditionPublic(BaseModel):
    edition: str  # "ICLR.2024", as in /venue/ICLR.2024
    venue: str
    year: int
    count: int
    groups: list[GroupPublic]


class EditionPage(Page[PaperPublic]):
    edition: str
    group: str | None


@router.get("/venues")
def list_venues(session: SessionDep) -> list[EditionPublic]:
    """Every stored edition with its paper count and groups (Oral, Poster, Long Papers ...)."""
    return [
        EditionPublic(
            edition=e.name,
            venue=e.venue,
            year=e.year,
            count=e.count,
            groups=[GroupPublic(group=g, count=n) for g, n in e.groups],
        )
        for e in edition_summaries(session)
    ]


@router.get("/venues/{venue}/{year}", response_model=EditionPage, responses={404: {"model": ErrorOut}})
@on_page_threads
def get_edition(
    request: Request,
    session: SessionDep,
    venue: str,
    year: Annotated[int, Path(ge=1, le=9999)],
    group: Annotated[str | None, Query(max_length=200)] = None,
    skip: Annotated[int, Query(ge=0, le=100_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response | HeavyRender[Response]:
    """One edition's papers in their order (`?group=` for one group), with an ETag as listings have."""
    name = stored_venue(session, venue)
    if name is None or not edition_count(session, venue=name, year=year):
        raise NotFoundError(f"no edition {venue}.{year} in this instance")
    stamp = edition_stamp(session, venue=name, year=year)
    checked = validate(request, stamp=stamp, fresh_seconds=get_settings().page_fresh_seconds)
    if checked.not_modified:
        return checked.not_modified

    def make() -> bytes:  # counted and read only when no kept answer serves
        total = edition_count(session, venue=name, year=year, group=group)
        papers = edition_papers(session, venue=name, year=year, group=group, limit=limit, offset=skip)
        page = EditionPage(items=[PaperPublic.of(p) for p in papers], total=total, limit=limit, offset=skip,
                           edition=f"{name}.{year}", group=group)  # fmt: skip
        return page.model_dump_json().encode()

    read = min(limit, stamp[2])  # the page's papers (read with an offset)
    return kept_or_rendered(request, checked, read, media_type=JSON, make=make)
