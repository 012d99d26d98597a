"""A big day's listing as a browser opens it: the first LISTING_EAGER_ABSTRACTS abstracts in the page,
the rest in one second request (`?part=abstracts`, JSON) that the page names in its head. Every other
client (feed readers, RSSHub, scripts: no `Sec-Fetch-Mode: navigate`) and `?abstracts=all` get every
abstract in the page, as papers.cool sends it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.arxiv.types import Feed, FeedEntry
from app.config import get_settings
from app.store.ingest import ingest_feed

DAY = dt.date(2026, 3, 3)
LISTING = "/arxiv/cs.LG"
EAGER = 3
PAPERS = 8
NAVIGATE = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
HOSTILE = 'A </p><script>alert(1)</script> "quoted" & $x^2$ abstract'


@pytest.fixture(autouse=True)
def eager(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LISTING_EAGER_ABSTRACTS", str(EAGER))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def day(session: Session) -> dict[str, str]:
    entries = [
        FeedEntry(
            arxiv_id=f"2603.{n:05d}",
            version=1,
            title=f"Paper number {n}",
            abstract=HOSTILE if n == PAPERS else f"Abstract of paper {n}, about topic {n}.",
            authors=("Ada Lovelace",),
            primary_category="cs.LG",
            categories=("cs.LG",),
            announce_type="new",
        )
        for n in range(1, PAPERS + 1)
    ]
    feed = Feed(kind="rss2", title="t", entries=tuple(entries), announced_on=DAY)
    ingest_feed(session, feed=feed, categories=["cs.LG"])
    session.commit()
    return {entry.arxiv_id: entry.abstract for entry in entries}


def _summaries(html: str) -> dict[str, str | None]:
    """Each paper's abstract as shown, None where it is left to the second request."""
    soup = BeautifulSoup(html, "html.parser")
    return {
        div["id"]: None if summary.has_attr("data-lazy") else summary.get_text()
        for div in soup.select("div.paper")
        for summary in div.select("p.summary")
    }


def test_a_browser_gets_the_first_abstracts_and_the_rest_in_one_second_request(
    client: TestClient, day: dict[str, str]
) -> None:
    page = client.get(LISTING, headers=NAVIGATE)
    assert page.status_code == 200 and "Sec-Fetch-Mode" in page.headers["vary"]
    shown = _summaries(page.text)
    ids = list(shown)
    assert len(ids) == PAPERS
    assert all(shown[pid] == day[pid] for pid in ids[:EAGER])
    assert all(shown[pid] is None for pid in ids[EAGER:])
    meta = BeautifulSoup(page.text, "html.parser").select_one('meta[name="coolpapers-abstracts"]')
    assert meta is not None
    later = client.get(str(meta["content"]))  # as fetch() asks: no navigation
    assert later.status_code == 200 and later.headers["content-type"].startswith("application/json")
    assert later.json() == {"abstracts": {pid: day[pid] for pid in ids[EAGER:]}}
    etag = later.headers["etag"]
    assert client.get(str(meta["content"]), headers={"If-None-Match": etag}).status_code == 304


def test_other_clients_and_abstracts_all_get_every_abstract(client: TestClient, day: dict[str, str]) -> None:
    plain = client.get(LISTING)
    assert _summaries(plain.text) == day and "coolpapers-abstracts" not in plain.text
    assert "Sec-Fetch-Mode" in plain.headers["vary"]
    every = client.get(f"{LISTING}?abstracts=all", headers=NAVIGATE)
    assert _summaries(every.text) == day
    # The two forms of one URL are two versions: a browser's ETag never validates the other form.
    browser = client.get(LISTING, headers=NAVIGATE)
    assert browser.headers["etag"] != plain.headers["etag"]
    assert client.get(LISTING, headers={"If-None-Match": browser.headers["etag"]}).status_code == 200
    assert (
        client.get(LISTING, headers=NAVIGATE | {"If-None-Match": browser.headers["etag"]}).status_code == 304
    )
    # The hostile abstract is text in both forms: escaped in the page, a JSON string in the second request.
    assert "<script>alert(1)</script>" not in plain.text


def test_a_small_page_is_whole_for_a_browser_too(client: TestClient, day: dict[str, str]) -> None:
    page = client.get(f"{LISTING}?show={EAGER}", headers=NAVIGATE)
    shown = _summaries(page.text)
    assert len(shown) == EAGER and None not in shown.values()
    assert "coolpapers-abstracts" not in page.text


@pytest.mark.parametrize("query", ["part=everything", "abstracts=some"])
def test_unknown_values_are_a_422(client: TestClient, day: dict[str, str], query: str) -> None:
    response = client.get(f"{LISTING}?{query}")
    assert response.status_code == 422
