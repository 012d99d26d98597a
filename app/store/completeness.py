"""Completeness: did the daily feed list every paper of the day? Checked against the arXiv API.

papers.cool readers have seen whole papers missing from a day (its issue #91: ten cs.CV papers). After
a category's day is stored from RSS, the API is asked for the papers of that category submitted in the
day's submission window; those the feed listed on no day are fetched (the API answer is the full
record) and added to the day's listing, and the comparison is recorded per (category, day) in the
`completeness` table, shown on /status and /metrics.

The window is arXiv's schedule: a listing dated D (the RSS pubDate) holds what was submitted between
14:00 US Eastern two business days before D and 14:00 the business day before. A holiday (a day the
feeds announce nothing, so no listing is stored for it) moves the deadline it skipped to the next
announcement: the window starts at the deadline of the previous stored announcement day, whichever
category it was stored for. A paper of the API's answer that the feed listed on another day is never
counted as missing, so a wrong window can miss a gap but not invent one; and a day on which nothing
was announced in any category is not checked (no alert: its papers are the next listing's).

With COMPLETENESS_OAI, the category's OAI-PMH set is a third witness (app/arxiv/oai_sets.py): the
records dated D of the category's archive that were first submitted in the window. A paper either
witness names and no stored listing holds is missing, fetched and listed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.arxiv.fetch import ArxivClient, RateLimiter
from app.arxiv.oai_sets import fetch_oai_day
from app.arxiv.parse import parse_feed
from app.arxiv.ratelimit import limiter_for
from app.arxiv.types import FeedEntry
from app.config import Settings
from app.store.db import session_scope
from app.store.listings import CategoryQuery, day_listing, entry_listing_type
from app.store.models import CompletenessCheck, Listing, Paper
from app.store.papers import upsert_papers
from app.store.upsert import dialect_insert

log = logging.getLogger(__name__)
EASTERN = ZoneInfo("America/New_York")
CUTOFF = dt.time(14, 0)  # arXiv's daily submission deadline, US Eastern
PAGE_SIZE = 500  # one API page; a busy category (cs.CV, cs.LG) has 300-600 papers a day
MAX_PAGES = 8  # bounds one check to 4,000 papers and eight polite requests
RECHECK_DAYS = 5  # the day before a new day is checked again when it is at most this far back
LISTED_SECTIONS = ("new", "cross")  # replacements were submitted earlier: outside the window


@dataclass(frozen=True, slots=True)
class ExpectedPapers:
    """The API's papers of a category for one submission window; `complete` False when capped."""

    entries: tuple[FeedEntry, ...]
    complete: bool

    def joined(self, entries: Sequence[FeedEntry], *, complete: bool) -> ExpectedPapers:
        """These papers and another witness's (each paper once, the first answer's record kept)."""
        known = {entry.arxiv_id for entry in self.entries}
        more = tuple(entry for entry in entries if entry.arxiv_id not in known)
        return ExpectedPapers(self.entries + more, self.complete and complete)


@dataclass(frozen=True, slots=True)
class DayCompleteness:
    category: str
    day: dt.date
    expected: int
    stored: int
    missing: int  # expected papers the feed did not list, over every check of the day
    repaired: int  # of those, how many were fetched and listed
    checked_at: dt.datetime
    alert: bool  # papers still missing after repair, or an API answer too large to read whole

    @property
    def unrepaired(self) -> int:
        return max(0, self.missing - self.repaired)


def submission_window(day: dt.date, *, previous: dt.date | None = None) -> tuple[dt.datetime, dt.datetime]:
    """UTC [start, end) of the submissions announced in the listing dated `day`.

    `previous`: the announcement day before it, when known; days between them without an
    announcement (holidays) had no deadline, so their submissions wait for `day`.
    """
    end_day = _business_day_before(day)
    start_day = _business_day_before(previous if previous is not None else end_day)
    start = dt.datetime.combine(start_day, CUTOFF, EASTERN).astimezone(dt.UTC)
    return start, dt.datetime.combine(end_day, CUTOFF, EASTERN).astimezone(dt.UTC)


def previous_announcement(session: Session, *, day: dt.date) -> dt.date | None:
    """The last day before `day` with a stored listing in any category (arXiv announces them all at
    once), looked for within RECHECK_DAYS + 7 days; None when nothing that recent is stored."""
    return session.scalar(
        select(func.max(Listing.announced_on)).where(
            Listing.announced_on < day, Listing.announced_on >= day - dt.timedelta(days=RECHECK_DAYS + 7)
        )
    )


def was_announced(session: Session, *, day: dt.date) -> bool:
    """Whether any listing is stored for `day`: a feed with nothing announced stores none."""
    return session.scalar(select(Listing.id).where(Listing.announced_on == day).limit(1)) is not None


def _business_day_before(day: dt.date) -> dt.date:
    day -= dt.timedelta(days=1)
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day


def fetch_expected(
    client: ArxivClient, *, category: str, day: dt.date, previous: dt.date | None = None
) -> ExpectedPapers:
    """Page through the API's answer for `cat:<category>` in the day's window, newest first."""
    start, end = submission_window(day, previous=previous)
    stamp = "%Y%m%d%H%M"  # the API reads submittedDate ranges in GMT
    query = f"cat:{category} AND submittedDate:[{start:{stamp}} TO {end:{stamp}}]"
    found: dict[str, FeedEntry] = {}
    for page in range(MAX_PAGES):
        result = client.fetch_api(
            search_query=query,
            start=page * PAGE_SIZE,
            max_results=PAGE_SIZE,
            sort_by="submittedDate",
            sort_order="descending",
        )
        entries = parse_feed(result.body or b"").entries
        for entry in entries:
            # The query says so already; checked again because the API's answer is not trusted.
            published = entry.published_at
            if category in entry.categories and published is not None and start <= published < end:
                found.setdefault(entry.arxiv_id, entry)
        oldest = min((e.published_at for e in entries if e.published_at), default=None)
        if len(entries) < PAGE_SIZE or (oldest is not None and oldest < start):
            return ExpectedPapers(tuple(found.values()), complete=True)
    log.warning("completeness check capped", extra={"category": category, "day": str(day)})
    return ExpectedPapers(tuple(found.values()), complete=False)


def check_day(
    session: Session,
    *,
    category: str,
    day: dt.date,
    expected: ExpectedPapers,
    repair: bool = True,
    now: dt.datetime | None = None,
) -> DayCompleteness:
    """Compare the API's papers with the stored listings, list the missing ones, record the result.

    Idempotent: a paper repaired once is listed, so a second check finds nothing more to add, and
    the day's row keeps the counts of every check so far. A day on which nothing was announced (no
    listing stored in any category) is left alone: no alert, nothing listed, nothing recorded.
    """
    if not was_announced(session, day=day):
        return DayCompleteness(category, day, 0, 0, 0, 0, now or dt.datetime.now(dt.UTC), alert=False)
    ids = [entry.arxiv_id for entry in expected.entries]
    listed = set(
        session.scalars(
            select(Paper.arxiv_id)
            .join(Listing, Listing.paper_id == Paper.id)
            .where(Listing.category == category, Paper.arxiv_id.in_(ids))
        )
    )
    missing = [entry for entry in expected.entries if entry.arxiv_id not in listed]
    repaired = _list_missing(session, category=category, day=day, entries=missing) if repair else 0
    if missing:
        log.warning(
            "papers missing from the feed",
            extra={"category": category, "day": str(day), "missing": len(missing), "repaired": repaired},
        )
    stored = sum(
        1
        for listed_paper in day_listing(session, CategoryQuery((category,)), day=day)
        if listed_paper.section in LISTED_SECTIONS
    )
    return _record(
        session,
        category=category,
        day=day,
        counts=(len(ids), stored, len(missing), repaired),
        complete=expected.complete,
        now=now or dt.datetime.now(dt.UTC),
    )


def _list_missing(session: Session, *, category: str, day: dt.date, entries: Sequence[FeedEntry]) -> int:
    """Store the papers and append them to the day's listing, after what the feed listed."""
    if not entries:
        return 0
    paper_ids = upsert_papers(session, entries=entries, submission_dates=True).ids
    last = session.scalar(
        select(func.max(Listing.position)).where(Listing.category == category, Listing.announced_on == day)
    )
    first = -1 if last is None else last
    rows = [
        {
            "category": category,
            "announced_on": day,
            "paper_id": paper_ids[entry.arxiv_id],
            "announce_type": entry_listing_type(entry, category),
            "position": first + 1 + offset,
        }
        for offset, entry in enumerate(entries)
    ]
    # DO NOTHING: a concurrent ingest of the same day may have listed some meanwhile.
    session.execute(dialect_insert(session, Listing).on_conflict_do_nothing(), rows)
    session.flush()
    return len(
        session.scalars(
            select(Listing.id).where(
                Listing.category == category,
                Listing.announced_on == day,
                Listing.paper_id.in_([row["paper_id"] for row in rows]),
            )
        ).all()
    )


def _record(
    session: Session,
    *,
    category: str,
    day: dt.date,
    counts: tuple[int, int, int, int],
    complete: bool,
    now: dt.datetime,
) -> DayCompleteness:
    expected, stored, missing, repaired = counts
    row = session.scalar(
        select(CompletenessCheck).where(CompletenessCheck.category == category, CompletenessCheck.day == day)
    )
    if row is None:
        row = CompletenessCheck(category=category, day=day, missing=0, repaired=0)
        session.add(row)
    row.expected, row.stored, row.checked_at = expected, stored, now
    row.missing += missing
    row.repaired += repaired
    row.alert = row.missing > row.repaired or not complete
    session.flush()
    return _view(row)


def _view(row: CompletenessCheck) -> DayCompleteness:
    return DayCompleteness(
        row.category, row.day, row.expected, row.stored, row.missing, row.repaired, row.checked_at, row.alert
    )


def recent_completeness(session: Session, *, days: int = 7) -> list[DayCompleteness]:
    """The checks of the last `days` checked days, newest day first, then by category."""
    latest = session.scalar(select(func.max(CompletenessCheck.day)))
    if latest is None:
        return []
    rows = session.scalars(
        select(CompletenessCheck)
        .where(CompletenessCheck.day > latest - dt.timedelta(days=days))
        .order_by(CompletenessCheck.day.desc(), CompletenessCheck.category)
    )
    return [_view(row) for row in rows]


def latest_completeness(session: Session) -> list[DayCompleteness]:
    """Each category's most recently checked day (what /metrics reports)."""
    newest = (
        select(CompletenessCheck.category, func.max(CompletenessCheck.day).label("day"))
        .group_by(CompletenessCheck.category)
        .subquery()
    )
    rows = session.scalars(
        select(CompletenessCheck)
        .join(
            newest,
            (newest.c.category == CompletenessCheck.category) & (newest.c.day == CompletenessCheck.day),
        )
        .order_by(CompletenessCheck.category)
    )
    return [_view(row) for row in rows]


def days_to_check(session: Session, *, category: str, day: dt.date) -> list[dt.date]:
    """A newly stored day, and the category's day before it once more: the API can lag the feed by
    hours, so a paper it did not know at the first check is caught a day later."""
    before = session.scalar(
        select(func.max(Listing.announced_on)).where(
            Listing.category == category,
            Listing.announced_on < day,
            Listing.announced_on >= day - dt.timedelta(days=RECHECK_DAYS),
        )
    )
    return [day] if before is None else [day, before]


def check_completeness(
    settings: Settings, *, category: str, day: dt.date, limiter: RateLimiter | None = None
) -> DayCompleteness:
    """Ask the API (and the OAI-PMH set with COMPLETENESS_OAI) for the day's papers, no transaction
    held meanwhile; then check and repair. A day without an announcement asks nothing."""
    with session_scope(settings) as session:
        announced = was_announced(session, day=day)
        previous = previous_announcement(session, day=day)
    if not announced:
        log.info("no announcement: completeness not checked", extra={"category": category, "day": str(day)})
        return DayCompleteness(category, day, 0, 0, 0, 0, dt.datetime.now(dt.UTC), alert=False)
    with ArxivClient.from_settings(settings, limiter=limiter or limiter_for(settings)) as client:
        expected = fetch_expected(client, category=category, day=day, previous=previous)
        if settings.completeness_oai:
            start, end = (
                moment.astimezone(EASTERN).date() for moment in submission_window(day, previous=previous)
            )
            oai = fetch_oai_day(client, category=category, day=day, created_from=start, created_to=end)
            expected = expected.joined(oai.entries, complete=oai.complete)
    with session_scope(settings) as session:
        return check_day(session, category=category, day=day, expected=expected)
