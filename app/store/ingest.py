"""Ingest: parsed feeds into papers and listings; the live path fetches first (fetch -> parse -> store)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from app.arxiv.fetch import ArxivClient, RateLimiter
from app.arxiv.parse import MAX_DOCUMENT_BYTES, parse_feed
from app.arxiv.ratelimit import limiter_for
from app.arxiv.taxonomy import taxonomy
from app.arxiv.types import Feed, arxiv_days
from app.config import Settings
from app.errors import ArxivError, FeedParseError, InvalidQueryError, StaleFeedError
from app.store.db import session_scope
from app.store.fetch_log import add_fetch_log, last_validators
from app.store.listings import add_listings, parse_category_expression
from app.store.papers import upsert_papers

log = logging.getLogger(__name__)
DETAILS_BATCH = 100  # ids per API request: one request every 3 s keeps a day under a minute


@dataclass(frozen=True, slots=True)
class IngestReport:
    seen: int
    new: int
    updated: int
    listings: int
    day: dt.date | None
    not_modified: bool = False
    changed: tuple[str, ...] = ()  # arxiv ids inserted or updated: they want details and embeddings

    def summary(self) -> str:
        if self.not_modified:
            return "not modified since the last fetch: nothing to do"
        day = self.day.isoformat() if self.day else "no listing day"
        return (
            f"{self.seen} entries seen, {self.new} papers new, {self.updated} papers updated, "
            f"{self.listings} listings added ({day})"
        )


# Documents whose `published` is a paper's first submission (a daily feed's is its announcement).
SUBMISSION_DATED = frozenset({"api", "oai", "snapshot"})


def ingest_feed(
    session: Session,
    *,
    feed: Feed,
    categories: Sequence[str] = (),
    day: dt.date | None = None,
) -> IngestReport:
    """Store a parsed feed: papers always; listings when a day and categories are known.

    `categories` and `day` override what the feed says about itself (files, API responses). A
    listing dated outside arXiv's days is refused, nothing stored: one dated 2099 became every
    page's latest day, and the digests stayed on it.
    """
    day = day or feed.announced_on
    first, latest = arxiv_days()
    if day is not None and not first <= day <= latest:
        raise FeedParseError(f"the listing is dated {day}: not an arXiv day (from {first} to {latest})")
    stats = upsert_papers(session, entries=feed.entries, submission_dates=feed.kind in SUBMISSION_DATED)
    cats = tuple(categories) or feed.categories
    listings = 0
    if day is not None and cats:
        listings = add_listings(session, feed=feed, paper_ids=stats.ids, day=day, categories=cats)
    return IngestReport(
        stats.seen, stats.new, stats.updated, listings, day if cats else None, changed=stats.changed
    )


def ingest_category(
    session: Session, client: ArxivClient, *, category: str, expect_day: dt.date | None = None
) -> IngestReport:
    """Fetch today's listing of `category` (conditionally), store it, and log the fetch.

    Errors propagate (FetchError, FeedParseError, StaleFeedError) with nothing stored; the caller
    logs the failure with `add_fetch_log` in its own transaction.
    """
    url = client.listing_url([category])
    started = dt.datetime.now(dt.UTC)
    etag, last_modified = last_validators(session, url)
    result = client.fetch_listing([category], etag=etag, last_modified=last_modified)
    if result.body is None:
        report = IngestReport(0, 0, 0, 0, None, not_modified=True)
    else:
        try:
            feed = parse_feed(result.body)
            if feed.entries and feed.announced_on is None:  # its papers would be on no day, for good
                raise FeedParseError(f"the {category} listing has {len(feed.entries)} entries but no date")
            if feed.categories and not _lists(feed, category):  # listed under `category`, for good
                raise FeedParseError(f"asked for the {category} listing, got {'+'.join(feed.categories)}'s")
            if expect_day is not None and feed.entries and feed.announced_on != expect_day:
                raise StaleFeedError(f"the feed announces {feed.announced_on}, not {expect_day}")
            report = ingest_feed(session, feed=feed, categories=[category])
        except FeedParseError as exc:
            exc.status = result.status  # a 200 that is no feed: logged with its status, not none
            raise
    add_fetch_log(
        session,
        url=url,
        category=category,
        started_at=started,
        http_status=result.status,
        etag=result.etag or etag,
        last_modified=result.last_modified or last_modified,
        entries_seen=report.seen,
        papers_new=report.new,
        papers_updated=report.updated,
        listings_added=report.listings,
    )
    log.info("ingested", extra={"category": category, "url": url, "report": report.summary()})
    return report


def _lists(feed: Feed, category: str) -> bool:
    """Whether a daily feed that names its categories names `category` alone (or by its other name):
    arXiv's feed of one category does; one that names others too lists their papers as well (a
    cs.LG-only paper of a cs.LG+stat.ML feed was stored in stat.ML's listing)."""
    known = taxonomy()
    return {known.canonical(c) for c in feed.categories} == {known.canonical(category)}


def ingest_file(
    settings: Settings,
    *,
    path: Path,
    category: str | None,
    day: dt.date | None,
) -> IngestReport:
    """Parse a saved document and store it in one transaction (nothing stored if it is ill-formed)."""
    if path.stat().st_size > MAX_DOCUMENT_BYTES:  # the parser's limit, said before the file is read
        raise FeedParseError(f"{path} is larger than {MAX_DOCUMENT_BYTES:,} bytes")
    feed = parse_feed(path.read_bytes())
    categories = [checked_category(category)] if category else []
    with session_scope(settings) as session:
        return ingest_feed(session, feed=feed, categories=categories, day=day)


def ingest_live(
    settings: Settings,
    *,
    category: str,
    expect_day: dt.date | None = None,
    limiter: RateLimiter | None = None,
) -> IngestReport:
    """Fetch and store today's listing of one category; a failure is logged in `fetch_log`."""
    category = checked_category(category)
    started = dt.datetime.now(dt.UTC)
    with ArxivClient.from_settings(settings, limiter=limiter or limiter_for(settings)) as client:
        try:
            with session_scope(settings) as session:
                return ingest_category(session, client, category=category, expect_day=expect_day)
        except ArxivError as exc:
            with session_scope(settings) as session:
                add_fetch_log(
                    session,
                    url=client.listing_url([category]),
                    category=category,
                    started_at=started,
                    http_status=getattr(exc, "status", None),
                    error=str(exc),
                )
            raise


def fetch_details(settings: Settings, *, arxiv_ids: Sequence[str], limiter: RateLimiter | None = None) -> int:
    """Fill in what the daily feed leaves out (comments, journal ref, submission date) from the API.

    The API lags the announcement by hours: ids it does not know yet are simply not updated.
    Returns how many papers changed.
    """
    changed = 0
    with ArxivClient.from_settings(settings, limiter=limiter or limiter_for(settings)) as client:
        for start in range(0, len(arxiv_ids), DETAILS_BATCH):
            batch = list(arxiv_ids[start : start + DETAILS_BATCH])
            result = client.fetch_api(id_list=batch, max_results=len(batch))
            feed = parse_feed(result.body or b"")
            with session_scope(settings) as session:
                changed += upsert_papers(session, entries=feed.entries, submission_dates=True).updated
    return changed


def checked_category(category: str) -> str:
    query = parse_category_expression(category)
    if len(query.include) != 1 or query.exclude:
        raise InvalidQueryError(f"one category at a time, got {category!r}")
    return query.include[0]
