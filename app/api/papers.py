"""GET /api/v1/papers/{arxiv_id} and /api/v1/papers?ids=."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from app.api.schemas import INVALID_INPUT, ErrorOut, Page, PaperPublic
from app.arxiv.ids import split_arxiv_id
from app.deps import SessionDep, SettingsDep
from app.errors import FeedParseError, InvalidQueryError, NotFoundError
from app.ratelimit import client_address, lookup_allowance
from app.store.lookup import get_or_fetch_paper
from app.store.papers import get_papers
from app.venues.types import is_venue_id

router = APIRouter(tags=["papers"], responses=INVALID_INPUT)
MAX_IDS = 200


def normalise_id(raw: str) -> str:
    if is_venue_id(raw):  # a venue paper: papers.cool's `{source id}@{Source}`, as written
        return raw.strip()
    try:
        return split_arxiv_id(raw)[0]
    except FeedParseError as exc:
        raise InvalidQueryError(str(exc)) from exc


@router.get("/papers", response_model=Page[PaperPublic])
def list_papers(
    session: SessionDep,
    ids: Annotated[str, Query(min_length=1, max_length=8000, description="comma-separated arXiv ids")],
) -> Page[PaperPublic]:
    """Several papers by id, in the order asked; unknown ids are left out."""
    wanted = list(dict.fromkeys(normalise_id(part) for part in ids.split(",") if part.strip()))
    if not wanted or len(wanted) > MAX_IDS:
        raise InvalidQueryError(f"ids: give between 1 and {MAX_IDS} arXiv ids")
    items = [PaperPublic.of(p) for p in get_papers(session, wanted)]
    return Page[PaperPublic](items=items, total=len(items), limit=MAX_IDS, offset=0)


@router.get(
    "/papers/{arxiv_id:path}",
    responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}, 503: {"model": ErrorOut}},
)
def read_paper(request: Request, session: SessionDep, settings: SettingsDep, arxiv_id: str) -> PaperPublic:
    """One paper by arXiv id (any spelling: `2401.01234`, `2401.01234v2`, `hep-th/9901001`).

    A paper not stored yet is fetched from arXiv (404 when arXiv does not know it, 503 with
    Retry-After when arXiv cannot be reached).
    """
    allowed = lookup_allowance(settings, client_address(request))
    paper = get_or_fetch_paper(session, settings, normalise_id(arxiv_id), may_start=allowed)
    if paper is None:
        raise NotFoundError(f"arXiv does not know the paper {arxiv_id}")
    return PaperPublic.of(paper)
