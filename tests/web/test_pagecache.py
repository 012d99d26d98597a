"""The listing page cache: served again while the day is unchanged, fresh counters every time."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.answers import _answers, clear_answers
from app.arxiv.types import Feed, FeedEntry
from app.config import get_settings
from app.store.counters import bump_counter
from app.store.ingest import ingest_feed
from app.store.models import Paper
from app.web.pagecache import CachedPage, counter_slot
from app.web.pages import _pages

DAY = dt.date(2026, 3, 2)


def _entry(number: int, **changes: object) -> FeedEntry:
    entry = FeedEntry(
        arxiv_id=f"2603.{number:05d}",
        version=1,
        title=f"Paper number {number}",
        abstract=f"Abstract of paper {number}.",
        authors=("Ada Lovelace",),
        primary_category="cs.LG",
        categories=("cs.LG",),
        announce_type="new",
    )
    return dataclasses.replace(entry, **changes)  # type: ignore[arg-type]


def _ingest(session: Session, *entries: FeedEntry, day: dt.date = DAY) -> None:
    ingest_feed(
        session, feed=Feed(kind="rss2", title="t", entries=entries, announced_on=day), categories=["cs.LG"]
    )
    session.commit()


def _papers(client: TestClient, url: str = "/arxiv/cs.LG") -> dict[str, dict[str, str]]:
    soup = BeautifulSoup(client.get(url).text, "html.parser")
    return {
        div["id"]: {
            "title": div.select_one("a.title-link").text,
            "pdf": div.select_one("sup[id^=pdf-stars]").text,
            "kimi": div.select_one("sup[id^=kimi-stars]").text,
        }
        for div in soup.select("div.paper")
    }


def test_cached_page_fills_counters_per_request(client: TestClient, session: Session) -> None:
    _ingest(session, _entry(1), _entry(2))
    assert _papers(client)["2603.00001"]["pdf"] == "0"
    assert len(_pages) == 1
    paper_id = _paper_id(session, "2603.00001")
    bump_counter(session, paper_id=paper_id, kind="pdf", day=DAY, delta=3)
    bump_counter(session, paper_id=paper_id, kind="kimi", day=DAY)
    session.commit()
    papers = _papers(client)
    assert papers["2603.00001"] == {"title": "Paper number 1", "pdf": "3", "kimi": "1"}
    assert papers["2603.00002"]["pdf"] == "0"
    assert len(_pages) == 1  # the same page, counters filled in


def test_updated_paper_and_new_listing_rows_make_a_new_page(client: TestClient, session: Session) -> None:
    _ingest(session, _entry(1), _entry(2))
    assert _papers(client)["2603.00001"]["title"] == "Paper number 1"
    _ingest(session, _entry(1, version=2, title="Paper number 1, revised"))
    assert _papers(client)["2603.00001"]["title"] == "Paper number 1, revised"
    _ingest(session, _entry(3))  # a late item of the same day
    assert sorted(_papers(client)) == ["2603.00001", "2603.00002", "2603.00003"]


def test_a_new_day_shows_in_the_older_days_navigation(client: TestClient, session: Session) -> None:
    _ingest(session, _entry(1))
    soup = BeautifulSoup(client.get(f"/arxiv/cs.LG?date={DAY}").text, "html.parser")
    assert soup.select_one("a.next-day") is None
    _ingest(session, _entry(5), day=DAY + dt.timedelta(days=1))
    soup = BeautifulSoup(client.get(f"/arxiv/cs.LG?date={DAY}").text, "html.parser")
    link = soup.select_one("a.next-day")
    assert link is not None and link["href"] == f"/arxiv/cs.LG?date={DAY + dt.timedelta(days=1)}"


def test_popular_sort_is_not_cached(client: TestClient, session: Session) -> None:
    _ingest(session, _entry(1), _entry(2))
    assert list(_papers(client, "/arxiv/cs.LG?sort=popular")) == ["2603.00001", "2603.00002"]
    bump_counter(session, paper_id=_paper_id(session, "2603.00002"), kind="kimi", day=DAY)
    session.commit()
    assert list(_papers(client, "/arxiv/cs.LG?sort=popular")) == ["2603.00002", "2603.00001"]
    assert len(_pages) == 0


def test_cached_page_splits_around_counter_slots() -> None:
    html = f"<a>{counter_slot(7, 'pdf')}</a><b>{counter_slot(7, 'kimi')}</b>é{counter_slot(9, 'pdf')}"
    page = CachedPage.from_html(html)
    assert page.paper_ids == (7, 9)
    assert page.render({7: {"pdf": 12}}) == "<a>12</a><b>0</b>é0".encode()


@contextmanager
def fresh_seconds(monkeypatch: pytest.MonkeyPatch, value: str) -> Iterator[None]:
    """PAGE_FRESH_SECONDS for one test (the suite runs with 0)."""
    monkeypatch.setenv("PAGE_FRESH_SECONDS", value)
    get_settings.cache_clear()
    try:
        yield
    finally:
        get_settings.cache_clear()


def _paper_id(session: Session, arxiv_id: str) -> int:
    paper_id = session.scalar(select(Paper.id).where(Paper.arxiv_id == arxiv_id))
    assert paper_id is not None
    return paper_id


def test_a_listing_just_served_is_answered_again_without_the_database(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fresh_seconds(monkeypatch, "60"):
        _ingest(session, _entry(1))
        first = client.get("/arxiv/cs.LG")
        bump_counter(session, paper_id=_paper_id(session, "2603.00001"), kind="pdf", day=DAY)
        session.commit()
        again = client.get("/arxiv/cs.LG")
        assert again.content == first.content  # the answer of a moment ago, counter not read again
        assert again.headers["content-encoding"] == "gzip"  # httpx asks for it, and decodes it
        assert again.headers["content-security-policy"] == first.headers["content-security-policy"]
        plain = client.get("/arxiv/cs.LG", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.content == first.content
        assert client.get("/arxiv/cs.LG?show=5").text != first.text  # another URL is another answer
        clear_answers()
        assert _papers(client)["2603.00001"]["pdf"] == "1"


def test_while_one_request_refreshes_an_old_answer_the_others_get_it(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fresh_seconds(monkeypatch, "1"):
        _ingest(session, _entry(1))
        assert _papers(client)["2603.00001"]["pdf"] == "0"
        bump_counter(session, paper_id=_paper_id(session, "2603.00001"), kind="pdf", day=DAY)
        session.commit()
        (answer,) = list(_answers.values())
        answer.at -= 2  # two seconds old: past the fresh window
        assert answer.claim_refresh()  # as if another request were making the next one
        assert _papers(client)["2603.00001"]["pdf"] == "0"  # the old answer, not a stampede
        answer.at -= 20  # too old to serve even while another refreshes
        assert _papers(client)["2603.00001"]["pdf"] == "1"
        (newer,) = list(_answers.values())
        assert newer is not answer and newer.claim_refresh()  # a fresh answer, nobody refreshing it
