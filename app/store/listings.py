"""Listings: which papers a category announced on a day, in which section and order."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from app.arxiv.taxonomy import taxonomy
from app.arxiv.types import Feed, FeedEntry
from app.errors import InvalidQueryError
from app.store.models import Listing, Paper
from app.store.upsert import dialect_insert

SECTIONS = ("new", "cross", "replace")
_SECTION_OF = {"new": "new", "cross": "cross", "replace": "replace", "replace-cross": "replace"}


@dataclass(frozen=True, slots=True)
class CategoryQuery:
    """A category expression as papers.cool reads it: `cs.AI,cs.CL`, `cs`, `cs.AI+cs.LG-cs.CY`."""

    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()

    def listing_filter(self) -> ColumnElement[bool]:
        # One IN for every exact name (an archive matches itself too): one cached statement shape and one
        # index scan, where 100 ORed equalities cost a compile per union length and a BitmapOr per term.
        clauses: list[ColumnElement[bool]] = [Listing.category.in_(self.include)]
        for name in self.include:
            if "." not in name:  # an archive: cs matches cs.AI, cs.CL ...; hep-ex matches itself
                clauses.append(Listing.category.like(f"{name}.%"))
        return or_(*clauses)

    def excludes(self, categories: Sequence[str]) -> bool:
        return any(cat == ex or cat.startswith(ex + ".") for cat in categories for ex in self.exclude)


@dataclass(frozen=True, slots=True)
class ListedPaper:
    paper: Paper
    section: str  # new | cross | replace
    position: int


def entry_listing_type(entry: FeedEntry, category: str) -> str:
    """The announce type of an entry in one category's listing of a (possibly multi-category) feed."""
    replaced = entry.announce_type in ("replace", "replace-cross")
    primary = entry.primary_category == category
    if replaced:
        return "replace" if primary else "replace-cross"
    return "new" if primary else "cross"


def add_listings(
    session: Session,
    *,
    feed: Feed,
    paper_ids: dict[str, int],
    day: dt.date,
    categories: Sequence[str],
) -> int:
    """Record each entry's appearance in each of `categories` it belongs to; returns rows added."""
    wanted = _listing_rows(feed, paper_ids, day, categories)
    if not wanted:
        return 0
    have = set(
        session.execute(
            select(Listing.category, Listing.paper_id).where(
                Listing.announced_on == day, Listing.category.in_({row["category"] for row in wanted})
            )
        )
    )
    fresh = [row for row in wanted if (row["category"], row["paper_id"]) not in have]
    if fresh:
        # DO NOTHING: a concurrent ingest of the same day may have added some rows meanwhile.
        session.execute(dialect_insert(session, Listing).on_conflict_do_nothing(), fresh)
        session.flush()
    return len(fresh)


def _listing_rows(
    feed: Feed, paper_ids: dict[str, int], day: dt.date, categories: Sequence[str]
) -> list[dict[str, object]]:
    rows: dict[tuple[str, int], dict[str, object]] = {}
    positions = dict.fromkeys(categories, 0)
    for entry in feed.entries:
        mine = [c for c in categories if c in entry.categories]
        if not mine and len(categories) == 1 and entry.announce_type is not None:
            mine = list(categories)  # a one-category daily feed lists what it lists (aliases, renames)
        for category in mine:
            key = (category, paper_ids[entry.arxiv_id])
            if key in rows:
                continue
            rows[key] = {
                "category": category,
                "announced_on": day,
                "paper_id": key[1],
                "announce_type": entry_listing_type(entry, category),
                "position": positions[category],
            }
            positions[category] += 1
    return list(rows.values())


def latest_day(session: Session, query: CategoryQuery, *, before: dt.date | None = None) -> dt.date | None:
    stmt = select(func.max(Listing.announced_on)).where(query.listing_filter())
    if before is not None:
        stmt = stmt.where(Listing.announced_on < before)
    return session.scalar(stmt)


def next_day(session: Session, query: CategoryQuery, *, after: dt.date) -> dt.date | None:
    stmt = select(func.min(Listing.announced_on)).where(query.listing_filter(), Listing.announced_on > after)
    return session.scalar(stmt)


def day_listing(session: Session, query: CategoryQuery, *, day: dt.date) -> list[ListedPaper]:
    """A day's papers for a category expression: new, then cross-lists, then replacements.

    A paper listed in several included categories appears once, in its most prominent section.
    """
    rows = session.execute(
        select(Paper, Listing.announce_type, Listing.position)
        .join(Listing, Listing.paper_id == Paper.id)
        .where(query.listing_filter(), Listing.announced_on == day)
    )
    best: dict[int, ListedPaper] = {}
    for paper, announce_type, position in rows:
        if query.exclude and query.excludes(paper.categories):
            continue
        listed = ListedPaper(paper, _SECTION_OF.get(announce_type, "new"), position)
        held = best.get(paper.id)
        if held is None or _rank(listed) < _rank(held):
            best[paper.id] = listed
    return sorted(best.values(), key=_rank)


def _rank(listed: ListedPaper) -> tuple[int, int]:
    return SECTIONS.index(listed.section), listed.position


@dataclass(frozen=True, slots=True)
class CategoryDay:
    category: str
    day: dt.date
    count: int


def category_days(session: Session) -> list[CategoryDay]:
    """Each category with its latest announcement day and that day's count of papers."""
    latest = (
        select(Listing.category, func.max(Listing.announced_on).label("day"))
        .group_by(Listing.category)
        .subquery()
    )
    stmt = (
        select(Listing.category, Listing.announced_on, func.count())
        .join(latest, and_(latest.c.category == Listing.category, latest.c.day == Listing.announced_on))
        .group_by(Listing.category, Listing.announced_on)
        .order_by(Listing.category)
    )
    return [CategoryDay(cat, day, count) for cat, day, count in session.execute(stmt)]


# One expression names at most this many categories: each becomes a clause of the listing's SQL,
# and SQLite refuses a thousand ("Expression tree is too large"). arXiv has about 155 active.
MAX_TERMS = 100
_CATEGORY_RE = re.compile(r"^[a-z][a-z\-]{0,19}(?:\.[A-Za-z][A-Za-z\-]{0,19})?$")


def parse_category_expression(spec: str) -> CategoryQuery:
    """Read `cs.AI`, `cs`, `cs.AI,cs.CL` or `cs.AI+cs.LG-cs.CY` (`,`/`+` add, `-` removes).

    Hyphens inside names (`hep-ex`, `cond-mat.mes-hall`) are part of the name; `-` only
    subtracts when it follows a complete name.
    """
    include: list[str] = []
    exclude: list[str] = []
    spec = spec.strip()
    terms = _split_expression(spec) if len(spec) <= 32 * MAX_TERMS else []  # bounded before the scan
    if len(terms) > MAX_TERMS or len(spec) > 32 * MAX_TERMS:
        raise InvalidQueryError(f"at most {MAX_TERMS} categories in one expression")
    known = taxonomy()
    for sign, name in terms:
        if not _CATEGORY_RE.match(name):
            raise InvalidQueryError(f"not a category: {name[:40]!r}")
        if not known.is_known(name):
            raise InvalidQueryError(f"arXiv has no category {name!r}")
        (exclude if sign == "-" else include).append(name)
    if not include:
        raise InvalidQueryError("a category expression needs at least one category to include")
    return CategoryQuery(tuple(dict.fromkeys(include)), tuple(dict.fromkeys(exclude)))


ARCHIVES = (
    "astro-ph", "cond-mat", "cs", "econ", "eess", "gr-qc", "hep-ex", "hep-lat", "hep-ph", "hep-th",
    "math", "math-ph", "nlin", "nucl-ex", "nucl-th", "physics", "q-bio", "q-fin", "quant-ph", "stat",
)  # fmt: skip
_STARTS_CATEGORY = re.compile(rf"(?:{'|'.join(map(re.escape, ARCHIVES))})(?=[.+,\-]|$)")


def _split_expression(spec: str) -> list[tuple[str, str]]:
    # `-` subtracts only when a category name follows it; inside `hep-ex` or `mes-hall` it is a letter.
    parts: list[tuple[str, str]] = []
    sign, name = "+", ""
    for index, char in enumerate(spec):
        minus = char == "-" and bool(name) and _STARTS_CATEGORY.match(spec, index + 1) is not None
        if char in "+," or minus:
            if name:
                parts.append((sign, name))
            sign, name = ("-" if minus else "+"), ""
        else:
            name += char
    if name:
        parts.append((sign, name))
    return parts


@dataclass(frozen=True, slots=True)
class ListingDay:
    """One announcement day of a category expression, with its neighbours for navigation."""

    day: dt.date | None
    papers: list[ListedPaper]
    prev_day: dt.date | None
    next_day: dt.date | None


def read_listing(session: Session, query: CategoryQuery, *, day: dt.date | None = None) -> ListingDay:
    """The asked day (default: the latest announced) with previous / next days that have papers."""
    day = day or latest_day(session, query)
    if day is None:
        return ListingDay(None, [], None, None)
    return ListingDay(
        day=day,
        papers=day_listing(session, query, day=day),
        prev_day=latest_day(session, query, before=day),
        next_day=next_day(session, query, after=day),
    )


@dataclass(frozen=True, slots=True)
class DayStamp:
    """What a day's rendered listing depends on, read in one aggregate: equal stamps, equal pages.

    A new listing row changes the count and the id sum; an updated paper its revision; a paper
    deleted and stored again its ingestion time; a new day before or after the neighbours.
    """

    day: dt.date
    count: int
    listing_ids: int
    revisions: int
    last_ingested: dt.datetime | None
    prev_day: dt.date | None
    next_day: dt.date | None


def day_stamp(session: Session, query: CategoryQuery, *, day: dt.date) -> DayStamp:
    # One statement (the neighbours as uncorrelated subqueries): every page view reads it.
    prev_day = (
        select(func.max(Listing.announced_on))
        .where(query.listing_filter(), Listing.announced_on < day)
        .correlate(None)
        .scalar_subquery()
    )
    next_day = (
        select(func.min(Listing.announced_on))
        .where(query.listing_filter(), Listing.announced_on > day)
        .correlate(None)
        .scalar_subquery()
    )
    count, listing_ids, revisions, last_ingested, before, after = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(Listing.id), 0),
            func.coalesce(func.sum(Paper.revision), 0),
            func.max(Paper.ingested_at),
            prev_day,
            next_day,
        )
        .join(Paper, Listing.paper_id == Paper.id)
        .where(query.listing_filter(), Listing.announced_on == day)
    ).one()
    return DayStamp(
        day=day,
        count=int(count),
        listing_ids=int(listing_ids),
        revisions=int(revisions),
        last_ingested=last_ingested,
        prev_day=before,
        next_day=after,
    )


def stamp_of(session: Session, query: CategoryQuery, *, day: dt.date | None) -> DayStamp | None:
    """The stamp of the asked day (default: the latest announced); None when nothing was announced."""
    day = day or latest_day(session, query)
    return day_stamp(session, query, day=day) if day else None


def stamped_listing(session: Session, query: CategoryQuery, stamp: DayStamp | None) -> ListingDay:
    """The stamped day's listing: its neighbouring days were read with the stamp already."""
    if stamp is None:
        return ListingDay(None, [], None, None)
    return ListingDay(stamp.day, day_listing(session, query, day=stamp.day), stamp.prev_day, stamp.next_day)
