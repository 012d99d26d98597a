"""Completeness: a day's feed compared with the arXiv API, missing papers listed, shown on /status.

The API answer is a real recording (tests/data/api/api-2025-cs-100-entries.xml: 100 cs papers
submitted on 2025-12-15, 42 of them in cs.CV). The feed is that day's cs.CV listing as arXiv's RSS
would carry it (announced 2025-12-16), less ten papers, as papers.cool readers saw it happen.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from xml.sax.saxutils import escape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.arxiv.parse import parse_feed
from app.arxiv.types import FeedEntry
from app.config import Settings, get_settings
from app.store.completeness import (
    ExpectedPapers,
    check_day,
    days_to_check,
    recent_completeness,
    submission_window,
)
from app.store.db import session_scope
from app.store.ingest import ingest_feed
from app.store.listings import CategoryQuery, day_listing
from app.store.models import CompletenessCheck, Listing
from tests.conftest import DATA
from tests.fakes import FakeEmbedder
from tests.loopback import LoopbackServer, Reply

API_ANSWER = (DATA / "api" / "api-2025-cs-100-entries.xml").read_bytes()
DAY = dt.date(2025, 12, 16)  # a Tuesday: Monday's submissions until 14:00 US Eastern
CV = [entry for entry in parse_feed(API_ANSWER).entries if "cs.CV" in entry.categories]
DROPPED = CV[-10:]  # what the feed left out


def rss_feed(entries: list[FeedEntry], *, category: str = "cs.CV", day: dt.date = DAY) -> bytes:
    """A daily RSS 2.0 feed in arXiv's 2024 format listing `entries` (new, or cross when not primary)."""
    stamp = f"{day:%a, %d %b %Y} 00:00:00 -0500"
    items = []
    for entry in entries:
        kind = "new" if entry.primary_category == category else "cross"
        cats = "".join(f"<category>{escape(c)}</category>" for c in entry.categories)
        items.append(
            f"<item><title>{escape(entry.title)}</title>"
            f"<link>https://arxiv.org/abs/{entry.arxiv_id}</link>"
            f"<description>arXiv:{entry.arxiv_id}v{entry.version} Announce Type: {kind} \n"
            f"Abstract: {escape(entry.abstract)}</description>"
            f'<guid isPermaLink="false">oai:arXiv.org:{entry.arxiv_id}v{entry.version}</guid>{cats}'
            f"<pubDate>{stamp}</pubDate><arxiv:announce_type>{kind}</arxiv:announce_type>"
            f"<dc:creator>{escape(', '.join(entry.authors))}</dc:creator></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss xmlns:arxiv="http://arxiv.org/schemas/atom" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0"><channel>'
        f"<title>{category} updates on arXiv.org</title><link>http://rss.arxiv.org/rss/{category}</link>"
        f"<description>{category} updates</description><pubDate>{stamp}</pubDate>"
        f"{''.join(items)}</channel></rss>"
    ).encode()


FEED = rss_feed([entry for entry in CV if entry not in DROPPED])


def listed_ids(session: Session, day: dt.date = DAY) -> set[str]:
    return {lp.paper.arxiv_id for lp in day_listing(session, CategoryQuery(("cs.CV",)), day=day)}


@pytest.fixture
def fed(session: Session) -> Session:
    """The day's cs.CV feed (ten papers short) stored as the RSS path stores it."""
    feed = parse_feed(FEED)
    assert feed.announced_on == DAY and len(feed.entries) == len(CV) - 10 == 32
    ingest_feed(session, feed=feed, categories=["cs.CV"])
    return session


def test_submission_window_follows_arxiv_business_days() -> None:
    # Tuesday's listing: Friday 14:00 EST to Monday 14:00 EST (19:00 UTC).
    assert submission_window(DAY) == (
        dt.datetime(2025, 12, 12, 19, tzinfo=dt.UTC),
        dt.datetime(2025, 12, 15, 19, tzinfo=dt.UTC),
    )
    # Monday's: Thursday to Friday; in summer time the cutoff is 18:00 UTC.
    assert submission_window(dt.date(2025, 6, 16)) == (
        dt.datetime(2025, 6, 12, 18, tzinfo=dt.UTC),
        dt.datetime(2025, 6, 13, 18, tzinfo=dt.UTC),
    )


def test_check_day_finds_and_lists_the_papers_the_feed_missed(fed: Session) -> None:
    assert listed_ids(fed).isdisjoint(e.arxiv_id for e in DROPPED)
    result = check_day(fed, category="cs.CV", day=DAY, expected=ExpectedPapers(tuple(CV), complete=True))
    assert (result.expected, result.stored, result.missing, result.repaired) == (42, 42, 10, 10)
    assert not result.alert and result.unrepaired == 0
    assert listed_ids(fed) == {e.arxiv_id for e in CV}
    # Repaired papers come after what the feed listed, in their own section (new or cross).
    by_id = {lp.paper.arxiv_id: lp for lp in day_listing(fed, CategoryQuery(("cs.CV",)), day=DAY)}
    first_missing = by_id[DROPPED[0].arxiv_id]
    assert first_missing.section == ("new" if DROPPED[0].primary_category == "cs.CV" else "cross")
    assert first_missing.position >= 32


def test_check_day_twice_adds_nothing_and_keeps_the_counts(fed: Session) -> None:
    expected = ExpectedPapers(tuple(CV), complete=True)
    check_day(fed, category="cs.CV", day=DAY, expected=expected)
    listings = fed.scalar(select(func.count()).select_from(Listing))
    again = check_day(fed, category="cs.CV", day=DAY, expected=expected)
    assert (again.expected, again.stored, again.missing, again.repaired, again.alert) == (
        42,
        42,
        10,
        10,
        False,
    )
    assert fed.scalar(select(func.count()).select_from(Listing)) == listings
    assert fed.scalar(select(func.count()).select_from(CompletenessCheck)) == 1


def test_a_paper_listed_on_another_day_is_not_missing(fed: Session) -> None:
    earlier = dt.date(2025, 12, 15)
    ingest_feed(fed, feed=parse_feed(rss_feed(DROPPED[:1], day=earlier)), categories=["cs.CV"])
    result = check_day(fed, category="cs.CV", day=DAY, expected=ExpectedPapers(tuple(CV), complete=True))
    assert (result.missing, result.repaired, result.stored) == (9, 9, 41)
    assert DROPPED[0].arxiv_id not in listed_ids(fed)


def test_without_repair_or_with_a_capped_answer_the_day_alerts(fed: Session) -> None:
    checked = check_day(
        fed, category="cs.CV", day=DAY, expected=ExpectedPapers(tuple(CV), complete=True), repair=False
    )
    assert (checked.missing, checked.repaired, checked.unrepaired, checked.alert) == (10, 0, 10, True)
    assert (checked.stored, len(listed_ids(fed))) == (32, 32)
    repaired = check_day(fed, category="cs.CV", day=DAY, expected=ExpectedPapers(tuple(CV), complete=True))
    assert (repaired.missing, repaired.repaired, repaired.alert) == (20, 10, True)  # ten reported twice
    other = check_day(fed, category="cs.LG", day=DAY, expected=ExpectedPapers((), complete=False))
    assert other.alert and other.missing == 0
    assert {(c.category, c.alert) for c in recent_completeness(fed)} == {("cs.CV", True), ("cs.LG", True)}


def test_days_to_check_adds_the_day_before(fed: Session) -> None:
    assert days_to_check(fed, category="cs.CV", day=DAY) == [DAY]
    assert days_to_check(fed, category="cs.CV", day=dt.date(2025, 12, 17)) == [dt.date(2025, 12, 17), DAY]
    assert days_to_check(fed, category="cs.CV", day=dt.date(2025, 12, 30)) == [dt.date(2025, 12, 30)]


@pytest.fixture
def arxiv(settings_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackServer]:
    """The feed and the API on loopback, disagreeing: the API has ten cs.CV papers more."""
    monkeypatch.setattr("app.search.refresh.get_embedder", lambda settings: FakeEmbedder())
    with LoopbackServer({"/rss/cs.CV": Reply(200, FEED), "/api/query": Reply(200, API_ANSWER)}) as server:
        monkeypatch.setenv("ARXIV_RSS_URL", f"{server.url}/rss")
        monkeypatch.setenv("ARXIV_API_URL", f"{server.url}/api/query")
        monkeypatch.setenv("ARXIV_RETRIES", "0")
        get_settings.cache_clear()
        yield server
    get_settings.cache_clear()


def test_fetch_category_checks_completeness_and_status_shows_it(arxiv: LoopbackServer) -> None:
    from app.main import create_app
    from workers.tasks import fetch_category

    assert fetch_category.delay("cs.CV").state == "SUCCESS"
    searches = [r.query for r in arxiv.requests_for("/api/query") if "search_query" in r.query]
    assert [(q["search_query"], q["sortBy"], q["start"]) for q in searches] == [
        (["cat:cs.CV AND submittedDate:[202512121900 TO 202512151900]"], ["submittedDate"], ["0"])
    ]
    with session_scope(get_settings()) as session:
        assert listed_ids(session) == {e.arxiv_id for e in CV}
        [day] = recent_completeness(session)
    assert (day.category, day.day, day.expected, day.missing, day.repaired, day.alert) == (
        "cs.CV", DAY, 42, 10, 10, False
    )  # fmt: skip

    web = TestClient(create_app())
    page = web.get("/status").text
    assert '<tr class="completeness-ok" id="completeness-cs.CV-2025-12-16">' in page
    assert "<td>42</td><td>42</td><td>10</td><td>10</td>" in page
    metrics = web.get("/metrics").text
    assert 'coolpapers_listing_missing{category="cs.CV"} 10.0' in metrics
    assert 'coolpapers_listing_repaired{category="cs.CV"} 10.0' in metrics
    assert 'coolpapers_listing_unrepaired{category="cs.CV"} 0.0' in metrics
    assert 'coolpapers_listing_alert{category="cs.CV"} 0.0' in metrics
