"""POST /api/v1/rank: order papers for a reader from their stars, dismissals and keywords (kept by the browser)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, StringConstraints

from app.api.papers import normalise_id
from app.api.schemas import BAD_BODY, INVALID_INPUT, Page
from app.deps import SessionDep, SettingsDep
from app.ranking.foryou import Reader, rank_arxiv_ids
from app.renders import on_page_threads

router = APIRouter(tags=["rank"], responses=INVALID_INPUT)
ArxivId = Annotated[str, StringConstraints(min_length=4, max_length=200)]  # venue ids are longer
Keyword = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class RankIn(BaseModel):
    papers: list[ArxivId] = Field(min_length=1, max_length=5000, description="the papers to order")
    stars: list[ArxivId] = Field(
        default_factory=list, max_length=2000, description="the reader's starred papers"
    )
    keywords: list[Keyword] = Field(
        default_factory=list, max_length=50, description="words the reader prefers"
    )
    dismissed: list[ArxivId] = Field(
        default_factory=list, max_length=2000, description='papers the reader marked "not interested"'
    )
    negative_keywords: list[Keyword] = Field(
        default_factory=list, max_length=50, description="words the reader does not want: such papers go down"
    )


class WhyOut(BaseModel):
    arxiv_id: str
    title: str


class RankedOut(BaseModel):
    arxiv_id: str
    score: float
    why: WhyOut | None = Field(
        description="the starred paper this pick is closest to; null if none explains it"
    )
    keyword: str | None = Field(description="the first of the reader's keywords the paper mentions")


class RankPage(Page[RankedOut]):
    personalised: bool = Field(
        description="false when nothing sent is usable (no known stars or dismissals, no keywords): "
        "the order is the given one"
    )
    note: str | None = Field(description="why the order is not personal, for the page to show")


@router.post("/rank", response_model=RankPage, responses=BAD_BODY)
@on_page_threads  # a day of thousands of papers: CPU and memory, bounded per process as pages are
def rank(body: RankIn, session: SessionDep, settings: SettingsDep) -> Response:
    """Best first: similarity to the starred papers (centroid, or a linear SVM from 5 stars, with the
    dismissed papers as negatives) plus keywords, less negative keywords; then the starred papers,
    then the dismissed ones, whatever their score.

    Nothing is stored: the stars, dismissals and keywords live in the reader's browser.
    """
    reader = Reader(
        stars=list(dict.fromkeys(normalise_id(i) for i in body.stars)),
        dismissed=list(dict.fromkeys(normalise_id(i) for i in body.dismissed)),
        keywords=body.keywords,
        negative_keywords=body.negative_keywords,
    )
    ranked = rank_arxiv_ids(
        session, [normalise_id(i) for i in body.papers], model=settings.embed_model, reader=reader
    )
    # Written here, in the shape of RankPage: pydantic objects for 1,000 items cost ~2 ms and
    # FastAPI's generic encoding of them ~4 ms more.
    items = [
        {
            "arxiv_id": p.arxiv_id,
            "score": p.score,
            "why": {"arxiv_id": p.why[0], "title": p.why[1]} if p.why else None,
            "keyword": p.keyword,
        }
        for p in ranked.picks
    ]
    page = {
        "items": items,
        "total": len(items),
        "limit": len(items),
        "offset": 0,
        "personalised": ranked.personalised,
        "note": ranked.note,
    }
    return Response(json.dumps(page, allow_nan=False, separators=(",", ":")), media_type="application/json")
