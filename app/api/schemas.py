"""API output shapes: PaperPublic, Page[T]."""

from __future__ import annotations

import datetime as dt
from typing import Generic, TypeVar

from pydantic import BaseModel

from app.arxiv.ids import abs_url, pdf_url
from app.store.models import Paper
from app.store.papers import as_utc


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
