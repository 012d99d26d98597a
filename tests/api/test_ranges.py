"""`?range=week|month` on listings: the API's and the page's time views (SQLite)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.api.ranges import RangePage
from app.arxiv.parse import parse_feed
from app.store.counters import bump_counter
from app.store.ingest import ingest_feed
from app.store.listings import CategoryQuery, day_listing
from app.store.papers import get_paper
from tests.conftest import DATA

API100 = DATA / "api" / "api-2025-cs-100-entries.xml"
LAST = dt.date(2025, 12, 15)


@pytest.fixture
def days(session: Session) -> dict[dt.date, list[str]]:
    """The 100 papers over three days (the last day, 3 days before, 20 days before): those listed in cs.CV."""
    feed = parse_feed(API100.read_bytes())
    chunks = {LAST: feed.entries[:40], LAST - dt.timedelta(days=3): feed.entries[40:70],
              LAST - dt.timedelta(days=20): feed.entries[70:]}  # fmt: skip
    listed = {}
    for day, entries in chunks.items():
        ingest_feed(session, feed=dataclasses.replace(feed, entries=entries), categories=["cs.CV"], day=day)
        listed[day] = [p.paper.arxiv_id for p in day_listing(session, CategoryQuery(("cs.CV",)), day=day)]
    session.commit()
    return listed


def test_week_holds_the_weeks_papers_most_opened_first(
    client: TestClient, session: Session, days: dict[dt.date, list[str]]
) -> None:
    popular = days[LAST - dt.timedelta(days=3)][5]
    paper = get_paper(session, popular)
    assert paper is not None
    bump_counter(session, paper_id=paper.id, kind="pdf", day=dt.date.today(), delta=3)
    session.commit()
    page = client.get("/api/v1/listings/cs.CV", params={"range": "week", "limit": 1000}).json()
    week = set(days[LAST]) | set(days[LAST - dt.timedelta(days=3)])
    assert page["range"] == "week" and page["sort"] == "popular"
    assert page["last_date"] == LAST.isoformat() and page["first_date"] == "2025-12-09"
    assert page["total"] == len(week) and {p["arxiv_id"] for p in page["items"]} == week
    assert page["items"][0]["arxiv_id"] == popular
    assert page["limit"] == 500  # a range's page is bounded


def test_month_reaches_back_thirty_days_and_pages(client: TestClient, days: dict[dt.date, list[str]]) -> None:
    everything = {a for ids in days.values() for a in ids}
    page = client.get(
        "/api/v1/listings/cs.CV", params={"range": "month", "sort": "arxiv", "limit": 10}
    ).json()
    assert page["total"] == len(everything) and len(page["items"]) == 10
    assert [p["arxiv_id"] for p in page["items"]] == days[LAST][:10]  # arXiv order: newest day first
    skip = len(everything) - 5
    rest = client.get(
        "/api/v1/listings/cs.CV", params={"range": "month", "sort": "arxiv", "limit": 10, "skip": skip}
    ).json()
    assert [p["arxiv_id"] for p in rest["items"]] == days[LAST - dt.timedelta(days=20)][-5:]
    before = client.get("/api/v1/listings/cs.CV", params={"range": "week", "date": "2025-11-26"}).json()
    assert {p["arxiv_id"] for p in before["items"]} == set(days[LAST - dt.timedelta(days=20)])


@pytest.mark.parametrize(
    ("params", "message"),
    [({"range": "year"}, "range: one of week, month"), ({"range": "week", "sort": "3D"}, "sorts by popular")],
)
def test_bad_range_or_sort_is_422(
    client: TestClient, days: dict[dt.date, list[str]], params: dict[str, str], message: str
) -> None:
    api = client.get("/api/v1/listings/cs.CV", params=params)
    assert api.status_code == 422 and message in api.json()["detail"]
    page = client.get("/arxiv/cs.CV", params=params)
    assert page.status_code == 422 and message in page.text


def test_a_day_sorted_otherwise_than_arxiv_is_422_in_the_api(
    client: TestClient, days: dict[dt.date, list[str]]
) -> None:
    """It was ignored: `sort=popular` on a day answered arXiv's order as if popular."""
    api = client.get("/api/v1/listings/cs.CV", params={"sort": "popular"})
    assert api.status_code == 422 and "needs range=week|month" in api.json()["detail"]
    assert client.get("/api/v1/listings/cs.CV", params={"sort": "arxiv"}).status_code == 200


@pytest.mark.parametrize("date", ["0001-01-01", "9999-12-31"])
def test_range_ending_on_the_first_or_last_date_is_empty(
    client: TestClient, days: dict[dt.date, list[str]], date: str
) -> None:
    api = client.get("/api/v1/listings/cs.CV", params={"range": "month", "date": date})
    assert api.status_code == 200 and api.json()["total"] == 0
    assert client.get("/arxiv/cs.CV", params={"range": "week", "date": date}).status_code == 200


def test_range_page_shows_the_range_with_its_links(
    client: TestClient, days: dict[dt.date, list[str]]
) -> None:
    response = client.get("/arxiv/cs.CV", params={"range": "week", "sort": "foryou"})
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    soup = BeautifulSoup(response.text, "html.parser")
    shown = [div["id"] for div in soup.select("div.papers > div.paper")]
    assert set(shown) == set(days[LAST]) | set(days[LAST - dt.timedelta(days=3)])
    assert soup.select_one("#foryou-notice") is not None  # the page's "for you" re-ranks these
    assert soup.select_one("#range-week")["aria-current"] == "page"  # type: ignore[index]
    assert soup.select_one("#range-month")["href"] == "/arxiv/cs.CV?range=month&sort=foryou"  # type: ignore[index]
    assert soup.select_one("#sort-popular")["href"] == "/arxiv/cs.CV?sort=popular&range=week"  # type: ignore[index]
    small = BeautifulSoup(
        client.get("/arxiv/cs.CV", params={"range": "month", "show": 30}).text, "html.parser"
    )
    assert len(small.select("div.papers > div.paper")) == 30
    assert "skip=30" in small.select_one("a.page-next")["href"]  # type: ignore[index]


def test_an_older_day_keeps_its_date_and_sort_in_the_other_views(
    client: TestClient, days: dict[dt.date, list[str]]
) -> None:
    older = (LAST - dt.timedelta(days=3)).isoformat()
    day = BeautifulSoup(client.get(f"/arxiv/cs.CV?date={older}&sort=popular").text, "html.parser")
    links = {a["id"]: a["href"] for a in day.select("nav.ranges a")}
    assert links == {
        "range-day": f"/arxiv/cs.CV?date={older}",
        "range-week": f"/arxiv/cs.CV?range=week&sort=popular&date={older}",
        "range-month": f"/arxiv/cs.CV?range=month&sort=popular&date={older}",
    }
    week = BeautifulSoup(client.get(links["range-week"]).text, "html.parser")
    assert {div["id"] for div in week.select("div.papers > div.paper")} == set(
        days[LAST - dt.timedelta(days=3)]
    )
    assert week.select_one("#range-day")["href"] == f"/arxiv/cs.CV?date={older}"  # type: ignore[index]
    assert week.select_one("#sort-time")["href"] == f"/arxiv/cs.CV?sort=time&range=week&date={older}"  # type: ignore[index]
    latest = BeautifulSoup(client.get("/arxiv/cs.CV").text, "html.parser")
    assert latest.select_one("#range-week")["href"] == "/arxiv/cs.CV?range=week"  # type: ignore[index]


def test_the_range_answer_is_documented(client: TestClient, days: dict[dt.date, list[str]]) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/api/v1/listings/{cats}"]["get"]
    shapes = operation["responses"]["200"]["content"]["application/json"]["schema"]["anyOf"]
    assert {"$ref": "#/components/schemas/RangePage"} in shapes  # was ListingPage alone
    RangePage.model_validate(client.get("/api/v1/listings/cs.CV", params={"range": "week"}).json())


def test_feeds_stay_one_day(client: TestClient, days: dict[dt.date, list[str]]) -> None:
    plain = client.get("/arxiv/cs.CV/feed")
    ranged = client.get("/arxiv/cs.CV/feed", params={"range": "month"})
    assert ranged.status_code == 200
    assert ranged.text.count("<entry") == plain.text.count("<entry") == len(days[LAST])
