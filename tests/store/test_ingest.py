"""Ingest: parsed feeds into papers and listings, idempotently, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.arxiv.parse import parse_feed
from app.errors import FeedParseError
from app.store.ingest import ingest_feed
from app.store.listings import day_listing, parse_category_expression, read_listing
from app.store.models import Listing, Paper
from app.store.papers import get_paper
from tests.conftest import DATA

RSS2 = DATA / "rss" / "rss2-2024-multicat-csLG+csAI+csCL+statML.xml"
ATOM = DATA / "rss" / "atom-2024-csLG.xml"
API100 = DATA / "api" / "api-2025-cs-100-entries.xml"
DAY = dt.date(2026, 9, 24)


def _counts(session: Session) -> tuple[int, int]:
    papers = session.scalar(select(func.count()).select_from(Paper))
    listings = session.scalar(select(func.count()).select_from(Listing))
    return papers or 0, listings or 0


@pytest.mark.parametrize("year", ["2099", "1970"])
def test_a_listing_dated_outside_arxivs_days_is_refused_and_nothing_stored(
    session: Session, year: str
) -> None:
    """A feed dated 2099 became every category page's latest day, and the digests stayed on it."""
    text = RSS2.read_text(encoding="utf-8")
    moved = re.sub(r"(<pubDate>\w{3}, \d{2} \w{3} )\d{4}", rf"\g<1>{year}", text)
    assert moved != text
    feed = parse_feed(moved.encode())
    with pytest.raises(FeedParseError, match=f"the listing is dated {year}-.*: not an arXiv day"):
        ingest_feed(session, feed=feed)
    assert _counts(session) == (0, 0)


def test_ingest_rss2_stores_papers_and_listings_per_category(session: Session) -> None:
    report = ingest_feed(session, feed=parse_feed(RSS2.read_bytes()))
    assert (report.seen, report.new, report.updated, report.listings) == (4, 4, 0, 6)
    assert report.day == DAY
    rows = session.execute(
        select(Listing.category, Paper.arxiv_id, Listing.announce_type, Listing.position)
        .join(Paper)
        .order_by(Listing.category, Listing.position)
    ).all()
    assert [tuple(row) for row in rows] == [
        ("cs.AI", "2609.26820", "cross", 0),
        ("cs.LG", "2609.26811", "new", 0),
        ("cs.LG", "2609.26820", "new", 1),
        ("cs.LG", "2009.13987", "replace", 2),
        ("stat.ML", "2205.06398", "cross", 0),
        ("stat.ML", "2009.13987", "replace-cross", 1),
    ]


def test_ingest_same_feed_twice_changes_nothing(session: Session) -> None:
    feed = parse_feed(RSS2.read_bytes())
    ingest_feed(session, feed=feed)
    before = [(p.arxiv_id, p.version, p.title, p.authors) for p in session.scalars(select(Paper))]
    again = ingest_feed(session, feed=feed)
    assert (again.new, again.updated, again.listings) == (0, 0, 0)
    assert _counts(session) == (4, 6)
    after = [(p.arxiv_id, p.version, p.title, p.authors) for p in session.scalars(select(Paper))]
    assert after == before


def test_ingest_newer_version_updates_paper_and_keeps_listings(session: Session) -> None:
    feed = parse_feed(RSS2.read_bytes())
    ingest_feed(session, feed=feed)
    first = feed.entries[0]
    newer = dataclasses.replace(first, version=(first.version or 1) + 1, title="A better title")
    report = ingest_feed(session, feed=dataclasses.replace(feed, entries=(newer,)), day=DAY)
    assert (report.new, report.updated, report.listings) == (0, 1, 0)
    paper = get_paper(session, first.arxiv_id)
    assert paper is not None
    assert (paper.version, paper.title) == (newer.version, "A better title")
    assert _counts(session) == (4, 6)


def test_ingest_older_version_is_ignored(session: Session) -> None:
    feed = parse_feed(RSS2.read_bytes())
    ingest_feed(session, feed=feed)
    replaced = next(e for e in feed.entries if e.announce_type == "replace")
    older = dataclasses.replace(replaced, version=1, title="stale")
    report = ingest_feed(session, feed=dataclasses.replace(feed, entries=(older,)))
    assert report.updated == 0
    paper = get_paper(session, replaced.arxiv_id)
    assert paper is not None and paper.title == replaced.title


def test_ingest_api_without_day_stores_papers_only(session: Session) -> None:
    report = ingest_feed(session, feed=parse_feed(API100.read_bytes()))
    assert (report.seen, report.new, report.listings) == (100, 100, 0)
    assert report.day is None


def test_ingest_api_with_category_and_day_lists_members(session: Session) -> None:
    feed = parse_feed(API100.read_bytes())
    members = [e for e in feed.entries if "cs.CL" in e.categories]
    report = ingest_feed(session, feed=feed, categories=["cs.CL"], day=dt.date(2025, 12, 1))
    assert report.listings == len(members) > 0


def test_listing_sections_order_and_exclusion(session: Session) -> None:
    ingest_feed(session, feed=parse_feed(RSS2.read_bytes()))
    union = day_listing(session, parse_category_expression("cs.LG,stat.ML"), day=DAY)
    assert [(p.paper.arxiv_id, p.section) for p in union] == [
        ("2609.26811", "new"),
        ("2609.26820", "new"),
        ("2205.06398", "cross"),
        ("2009.13987", "replace"),
    ]
    minus = day_listing(session, parse_category_expression("cs.LG+stat.ML-cs.AI"), day=DAY)
    assert "2609.26820" not in [p.paper.arxiv_id for p in minus]
    archive = day_listing(session, parse_category_expression("stat"), day=DAY)
    assert [p.paper.arxiv_id for p in archive] == ["2205.06398", "2009.13987"]


def test_read_listing_defaults_to_latest_day_with_neighbours(session: Session) -> None:
    ingest_feed(session, feed=parse_feed(RSS2.read_bytes()))
    ingest_feed(session, feed=parse_feed(ATOM.read_bytes()))
    query = parse_category_expression("cs.LG")
    latest = read_listing(session, query)
    assert latest.day == dt.date(2026, 9, 25)
    assert latest.prev_day == DAY and latest.next_day is None
    earlier = read_listing(session, query, day=DAY)
    assert earlier.next_day == dt.date(2026, 9, 25) and earlier.prev_day is None
