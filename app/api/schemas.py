"""API output shapes: PaperPublic, Page[T]."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator

from app.arxiv.ids import abs_url, pdf_url
from app.store.models import Paper
from app.store.papers import as_utc

_FULL_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _full_date(value: object) -> object:
    """Only what the schema's `format: date` promises: pydantic alone reads `0` as 1970-01-01."""
    if isinstance(value, dt.date) or (isinstance(value, str) and _FULL_DATE_RE.fullmatch(value)):
        return value
    raise ValueError("a date is written YYYY-MM-DD")


IsoDate = Annotated[dt.date, BeforeValidator(_full_date)]


class PaperPublic(BaseModel):
    arxiv_id: str
    version: int | None
    title: str
    abstract: str
    authors: list[str]
    primary_category: str | None
    categories: list[str]
    published_at: dt.datetime | None
    updated_at: dt.datetime | None
    comments: str | None
    journal_ref: str | None
    doi: str | None
    pdf_url: str
    abs_url: str

    @classmethod
    def of(cls, paper: Paper) -> PaperPublic:
        return cls(
            arxiv_id=paper.arxiv_id,
            version=paper.version,
            title=paper.title,
            abstract=paper.abstract,
            authors=paper.authors,
            primary_category=paper.primary_category,
            categories=paper.categories,
            published_at=as_utc(paper.published_at),
            updated_at=as_utc(paper.updated_at),
            comments=paper.comments,
            journal_ref=paper.journal_ref,
            doi=paper.doi,
            pdf_url=pdf_url(paper.arxiv_id, paper.version),
            abs_url=abs_url(paper.arxiv_id, paper.version),
        )


class ListedPaperPublic(PaperPublic):
    section: str  # new | cross | replace


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class ListingPage(Page[ListedPaperPublic]):
    categories: str
    date: dt.date | None
    prev_date: dt.date | None
    next_date: dt.date | None


class CategoryPublic(BaseModel):
    category: str
    latest_date: dt.date
    count: int


class ErrorOut(BaseModel):
    detail: str


# Every error is `{"detail": "one line"}` (app.main's handlers), invalid input included: declared
# on each router so the OpenAPI document does not promise FastAPI's default list of errors for 422.
INVALID_INPUT: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorOut, "description": "Invalid input: one line saying which and why"}
}
ADMIN_REFUSED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No valid bearer token"},
    403: {"model": ErrorOut, "description": "Admin routes are off (no ADMIN_TOKEN)"},
}
BAD_BODY: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "A body that cannot be read as JSON"},
    413: {"model": ErrorOut, "description": "A body over MAX_REQUEST_BYTES"},
}
