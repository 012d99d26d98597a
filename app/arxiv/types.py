"""Records parsed from arXiv documents. Plain dataclasses: no I/O, no ORM.

`FeedEntry` is also the one declaration of a paper's fields. A field kept on the `papers` table is
annotated with `Stored` (its SQL type and how later records update it); one shown as a detail line
of the paper's markup also carries `Shown`. `PAPER_FIELDS`, read from those annotations, is what
the ORM table, the upsert, the backfill's COPY, the API schema and the template's detail lines are
built from. A new field arXiv publishes is one line here, the parser lines that read it, and an
Alembic migration (`alembic revision --autogenerate` writes it; `alembic check` proves it is there).
"""

from __future__ import annotations

import datetime as dt
import types
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

ANNOUNCE_TYPES = ("new", "cross", "replace", "replace-cross")
ARXIV_FIRST_DAY = dt.date(1991, 8, 14)  # the first paper announced (hep-th/9108001)


def arxiv_days() -> tuple[dt.date, dt.date]:
    """The days a listing may be dated: arXiv's first, to tomorrow (UTC, ahead of some zones)."""
    return ARXIV_FIRST_DAY, dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)


# Column types, in PostgreSQL's spelling (the backfill's staging table uses them as written).
SqlType = Literal["varchar(40)", "varchar(200)", "text", "integer", "json", "timestamptz"]


@dataclass(frozen=True, slots=True)
class Stored:
    """A `FeedEntry` field kept as a `papers` column of the same name.

    `refresh` says what may change a stored value: "version" only a newer version of the paper;
    "fill" also a record of the same version when the stored value is missing (a terse daily feed
    first, the API's details later). An empty value never erases a stored one.
    """

    sql: SqlType
    refresh: Literal["version", "fill"] = "fill"
    unique: bool = False


@dataclass(frozen=True, slots=True)
class Shown:
    """A detail line of the paper's markup: ``<p class=css id=css-ID><strong>label</strong>: value``.

    `css` is papers.cool's class and id prefix (tools built for papers.cool read them); with `link`,
    a URL template with one ``{}``, the value is a link.
    """

    label: str
    css: str
    link: str | None = None


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One paper as a feed or the API describes it; the `Stored` fields are the paper's columns."""

    # without version: "2401.01234" or "hep-th/9901001"; a venue paper's row holds papers.cool's id
    # there (`GMwRl2e9Y1@OpenReview`, up to ~130 characters for CVF) and a `source` (app/store/venues.py)
    arxiv_id: Annotated[str, Stored("varchar(200)", refresh="version", unique=True)]
    version: Annotated[int | None, Stored("integer", refresh="version")]
    title: Annotated[str, Stored("text", refresh="version")]
    abstract: Annotated[str, Stored("text", refresh="version")]
    authors: Annotated[tuple[str, ...], Stored("json", refresh="version")]
    primary_category: Annotated[str | None, Stored("varchar(40)")]
    categories: Annotated[tuple[str, ...], Stored("json", refresh="version")]
    announce_type: str | None = None  # one of ANNOUNCE_TYPES for daily feeds, else None (a listing's)
    published_at: Annotated[dt.datetime | None, Stored("timestamptz")] = None  # UTC, timezone-aware
    updated_at: Annotated[dt.datetime | None, Stored("timestamptz")] = None  # UTC, timezone-aware
    comments: Annotated[str | None, Stored("text"), Shown("Comments", "comments")] = None
    journal_ref: Annotated[str | None, Stored("text"), Shown("Journal ref", "journal")] = None
    doi: Annotated[str | None, Stored("text"), Shown("DOI", "doi", link="https://doi.org/{}")] = None
    license: Annotated[str | None, Stored("text")] = None  # a URL: creativecommons.org/licenses/by/4.0/
    # Mathematics Subject Classification and ACM Computing Classification codes: "52C25, 74N10"
    msc_class: Annotated[str | None, Stored("text"), Shown("MSC classes", "msc")] = None
    acm_class: Annotated[str | None, Stored("text"), Shown("ACM classes", "acm")] = None


@dataclass(frozen=True, slots=True)
class PaperField:
    """One stored field of `FeedEntry`, as `PAPER_FIELDS` lists it."""

    name: str
    annotation: Any  # the Python type without its metadata: `str | None`, `tuple[str, ...]`
    nullable: bool
    stored: Stored
    shown: Shown | None


def _paper_fields(record: type[Any]) -> tuple[PaperField, ...]:
    hints = get_type_hints(record, include_extras=True)
    found = []
    for name, hint in hints.items():
        if get_origin(hint) is not Annotated:
            continue
        annotation, *meta = get_args(hint)
        stored = next((m for m in meta if isinstance(m, Stored)), None)
        if stored is None:
            continue
        nullable = get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(annotation)
        shown = next((m for m in meta if isinstance(m, Shown)), None)
        found.append(PaperField(name, annotation, nullable, stored, shown))
    return tuple(found)


# In declaration order (dicts keep it): the order of the API's keys and the markup's detail lines.
PAPER_FIELDS = _paper_fields(FeedEntry)
SHOWN_FIELDS = tuple((f.name, f.shown) for f in PAPER_FIELDS if f.shown is not None)


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
