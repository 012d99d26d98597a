"""Records parsed from arXiv documents. Plain dataclasses: no I/O, no ORM."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

ANNOUNCE_TYPES = ("new", "cross", "replace", "replace-cross")


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One paper as a feed or the API describes it."""

    arxiv_id: str  # without version: "2401.01234" or "hep-th/9901001"
    version: int | None
    title: str
    abstract: str
    authors: tuple[str, ...]
    primary_category: str | None
    categories: tuple[str, ...]
    announce_type: str | None = None  # one of ANNOUNCE_TYPES for daily feeds, else None
    comments: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    license: str | None = None
    published_at: dt.datetime | None = None  # UTC, timezone-aware
    updated_at: dt.datetime | None = None  # UTC, timezone-aware


@dataclass(frozen=True, slots=True)
class Feed:
    """A parsed document: its kind, what it says about itself, and its entries."""

    kind: str  # "rss2" | "atom" | "rss1" | "api" | "oai" | "snapshot"
    title: str
    entries: tuple[FeedEntry, ...]
    announced_on: dt.date | None = None  # the day a daily feed announces (its pubDate, US Eastern)
    categories: tuple[str, ...] = field(default=())  # categories the feed is about, when it says
    total_results: int | None = None  # API: opensearch:totalResults
    resumption_token: str | None = None  # OAI-PMH: next page, None when done
