"""POST /api/v1/counters: the PDF / FAQ open counts of the papers a page shows, in one request.

Pages are rendered without these numbers (they change every minute, the page once a day), so the
HTML can be cached by its URL and its data's stamp; site.js asks for the visible papers' counts here.
A POST because a day's listing shows up to 5,000 ids, more than a URL safely carries.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field, StringConstraints

from app.api.papers import normalise_id
from app.api.schemas import BAD_BODY, INVALID_INPUT, Page
from app.deps import SessionDep
from app.store.counters import counter_totals_by_arxiv_id

router = APIRouter(tags=["counters"], responses=INVALID_INPUT)
MAX_PAPERS = 5000  # a listing page's largest `show`, as for POST /api/v1/rank
ArxivId = Annotated[str, StringConstraints(min_length=4, max_length=200)]  # venue ids are longer


class CountersIn(BaseModel):
    papers: list[ArxivId] = Field(min_length=1, max_length=MAX_PAPERS, description="arXiv ids")


class CountersOut(BaseModel):
    arxiv_id: str
    pdf: int = Field(description="times the PDF was opened here")
    kimi: int = Field(description="times the FAQ was opened here")


@router.post("/counters", response_model=Page[CountersOut], responses=BAD_BODY)
def read_counters(body: CountersIn, session: SessionDep) -> Page[CountersOut]:
    """Each asked paper's counts, in the order asked (0 for a paper never opened or not stored)."""
    ids = list(dict.fromkeys(normalise_id(raw) for raw in body.papers))
    totals = counter_totals_by_arxiv_id(session, ids)
    items = [
        CountersOut(arxiv_id=i, pdf=totals.get(i, {}).get("pdf", 0), kimi=totals.get(i, {}).get("kimi", 0))
        for i in ids
    ]
    return Page[CountersOut](items=items, total=len(items), limit=MAX_PAPERS, offset=0)
