"""GET /api/v1/search and /api/v1/papers/{arxiv_id}/related."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from app.api.papers import normalise_id
from app.api.schemas import INVALID_INPUT, ErrorOut, Page, PaperPublic
from app.deps import IsoDate, SearcherDep, SessionDep
from app.errors import InvalidQueryError
from app.ratelimit import rate_limit
from app.renders import on_page_threads
from app.search.hybrid import Hit, SearchFilters
from app.store.listings import parse_category_expression
from app.store.papers import stored_paper

router = APIRouter(tags=["search"], responses=INVALID_INPUT)
search_limit = Depends(rate_limit("search", lambda s: s.rate_search_per_minute))
MAX_QUERY = 500


class ScoredPaper(PaperPublic):
    score: float


class SearchPage(Page[ScoredPaper]):
    mode: str
    semantic: bool  # False when no vectors took part (nothing embedded yet, or keyword mode)


def scored(hits: list[Hit]) -> list[ScoredPaper]:
    return [ScoredPaper(**PaperPublic.of(h.paper).model_dump(), score=round(h.score, 6)) for h in hits]


@router.get(
    "/search", response_model=SearchPage, dependencies=[search_limit], responses={429: {"model": ErrorOut}}
)
@on_page_threads  # the query's embedding, full text and up to 200 papers: CPU, as a page's search is
def search(
    searcher: SearcherDep,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY, description="words or a question")],
    mode: Literal["hybrid", "keyword", "semantic"] = "hybrid",
    category: Annotated[str | None, Query(max_length=200, examples=["cs.CL", "cs.AI+cs.LG-cs.CY"])] = None,
    date_from: Annotated[IsoDate | None, Query(alias="from")] = None,
    date_to: Annotated[IsoDate | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0, le=1800)] = 0,
    source: Annotated[
        Literal["arxiv", "venue", "openreview", "acl", "pmlr", "cvf", "neurips"] | None,
        Query(description="arxiv, venue (any conference), or one venue source"),
    ] = None,
) -> SearchPage:
    """Full-text and semantic search fused by reciprocal rank fusion, with category and date filters."""
    if date_from and date_to and date_from > date_to:
        raise InvalidQueryError("from must not be after to")
    filters = SearchFilters(
        parse_category_expression(category) if category else None, date_from, date_to, source=source
    )
    result = searcher.search(q, mode=mode, filters=filters, limit=limit, offset=offset)
    return SearchPage(
        items=scored(result.hits),
        total=result.total,
        limit=limit,
        offset=offset,
        mode=mode,
        semantic=result.semantic,
    )


@router.get("/papers/{arxiv_id:path}/related", responses={404: {"model": ErrorOut}})
def related(
    session: SessionDep, searcher: SearcherDep, arxiv_id: str, k: Annotated[int, Query(ge=1, le=100)] = 10
) -> Page[ScoredPaper]:
    """Nearest neighbours by vector (the paper itself excluded); by keywords while it has no vector."""
    paper = stored_paper(session, normalise_id(arxiv_id))
    items = scored(searcher.related(paper, k=k))
    return Page[ScoredPaper](items=items, total=len(items), limit=k, offset=0)
