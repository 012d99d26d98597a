"""API output shapes: PaperPublic, Page[T]."""

from __future__ import annotations

import datetime as dt
from typing import Any, Generic, Self, TypeVar

from pydantic import BaseModel, create_model

from app.arxiv.ids import abs_url, pdf_url
from app.arxiv.types import PAPER_FIELDS, PaperField
from app.store.models import Paper, VenueEntry
from app.store.papers import as_utc


def _public_type(spec: PaperField) -> Any:
    """A declared field's type in JSON: lists for the record's tuples."""
    return list[str] if spec.stored.sql == "json" else spec.annotation


def _public_value(spec: PaperField, value: Any) -> Any:
    return as_utc(value) if spec.stored.sql == "timestamptz" else value


# The paper's own fields, from its one declaration (`FeedEntry`), required and in its order.
_FIELDS: dict[str, Any] = {spec.name: (_public_type(spec), ...) for spec in PAPER_FIELDS}
_PaperFieldsPublic = create_model("PaperFieldsPublic", **_FIELDS)


class VenuePublic(BaseModel):
    """Where a venue paper appeared; `arxiv_paper` is its arXiv version's id when known."""

    edition: str  # "ICLR.2024"
    venue: str
    year: int
    group: str | None
    position: int
    arxiv_paper: str | None

    @classmethod
    def of(cls, entry: VenueEntry) -> VenuePublic:
        twin = entry.arxiv_paper.arxiv_id if entry.arxiv_paper is not None else None
        return cls(edition=entry.edition, venue=entry.venue, year=entry.year, group=entry.group,
                   position=entry.position, arxiv_paper=twin)  # fmt: skip


class PaperPublic(_PaperFieldsPublic):
    pdf_url: str
    abs_url: str
    source: str = "arxiv"  # or the venue source: "openreview", "acl", "pmlr", "cvf", "neurips"
    venue: VenuePublic | None = None
    tldr: str | None = None  # one sentence by the configured model (plain text); null when none was written

    @classmethod
    def of(cls, paper: Paper) -> Self:
        record = {spec.name: _public_value(spec, getattr(paper, spec.name)) for spec in PAPER_FIELDS}
        record["tldr"] = paper.tldr
        entry = paper.venue_entry if paper.source != "arxiv" else None
        if entry is not None:  # a venue paper: links at its source, and its edition
            return cls(**record, pdf_url=entry.pdf_url or entry.url, abs_url=entry.url, source=paper.source,
                       venue=VenuePublic.of(entry))  # fmt: skip
        return cls(
            **record,
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
