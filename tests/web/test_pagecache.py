"""Pages as HTTP caching sees them: an ETag from the URL and the data's stamp, 304 on a match, gzip,
and no change to what a page shows ever hidden longer than PAGE_FRESH_SECONDS (Cache-Control)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
from collections.abc import Iterator

import brotli
import httpx
import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.arxiv.types import Feed, FeedEntry
from app.config import get_settings
from app.httpcache import kept_responses
from app.store.counters import bump_counter
from app.store.ingest import ingest_feed
from app.store.models import Paper

DAY = dt.date(2026, 3, 2)
FRESH = 60
LISTING = "/arxiv/cs.LG"
PAPER = "/arxiv/2603.00001"


@pytest.fixture(autouse=True)
def fresh_seconds(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """PAGE_FRESH_SECONDS as deployed (the suite runs with 0: no-cache)."""
    monkeypatch.setenv("PAGE_FRESH_SECONDS", str(FRESH))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


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


def _ids(response: httpx.Response) -> list[str]:
    return [div["id"] for div in BeautifulSoup(response.text, "html.parser").select("div.paper")]


def _vary(response: httpx.Response) -> list[str]:
    """The names in a response's Vary (a listing page varies on Sec-Fetch-Mode too: test_lazy_abstracts)."""
    return [name.strip() for name in response.headers.get("vary", "").split(",") if name.strip()]


def _paper_id(session: Session, arxiv_id: str) -> int:
    paper_id = session.scalar(select(Paper.id).where(Paper.arxiv_id == arxiv_id))
    assert paper_id is not None
    return paper_id


# Every field a paper shows, changed as arXiv changes it: a new version rewrites the record, details
# (comments, journal reference, DOI) are filled in later for the same version (as fetch_details does).
CHANGES = [
    ("title", {"version": 2, "title": "Paper number 1, revised"}),
    ("abstract", {"version": 2, "abstract": "A rewritten abstract."}),
    ("authors", {"version": 2, "authors": ("Ada Lovelace", "Charles Babbage")}),
    ("categories", {"version": 2, "categories": ("cs.LG", "stat.ML")}),
    ("comments", {"comments": "12 pages, 3 figures"}),
    ("journal_ref", {"journal_ref": "J. Mach. Learn. Res. 27 (2026) 1-12"}),
    ("doi", {"doi": "10.1000/example.2026.1"}),
]


@pytest.mark.parametrize("url", [LISTING, PAPER])
@pytest.mark.parametrize(("field", "change"), CHANGES, ids=[field for field, _ in CHANGES])
def test_changing_a_shown_field_changes_the_page_within_the_fresh_window(
    client: TestClient, session: Session, url: str, field: str, change: dict[str, object]
) -> None:
    _ingest(session, _entry(1), _entry(2))
    first = client.get(url)
    assert first.headers["cache-control"] == f"max-age={FRESH}, stale-while-revalidate={FRESH}"
    _ingest(session, _entry(1, **change))
    # Past max-age the browser revalidates with the ETag it holds: it must get the new page.
    again = client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 200 and again.headers["etag"] != first.headers["etag"]
    if field != "doi":  # the DOI's line on the page is added with the field's declaration
        new_value = change[field]
        for part in new_value if isinstance(new_value, tuple) else (new_value,):
            assert str(part) in again.text, field


def test_a_new_listing_row_and_a_new_next_day_change_the_listing(
    client: TestClient, session: Session
) -> None:
    _ingest(session, _entry(1), _entry(2))
    first = client.get(f"{LISTING}?date={DAY}")
    _ingest(session, _entry(3))  # a late item of the same day
    second = client.get(f"{LISTING}?date={DAY}", headers={"If-None-Match": first.headers["etag"]})
    assert second.status_code == 200 and sorted(_ids(second)) == ["2603.00001", "2603.00002", "2603.00003"]
    assert BeautifulSoup(second.text, "html.parser").select_one("a.next-day") is None
    _ingest(session, _entry(5), day=DAY + dt.timedelta(days=1))
    third = client.get(f"{LISTING}?date={DAY}", headers={"If-None-Match": second.headers["etag"]})
    link = BeautifulSoup(third.text, "html.parser").select_one("a.next-day")
    assert third.status_code == 200 and link is not None
    assert link["href"] == f"{LISTING}?date={DAY + dt.timedelta(days=1)}"


@pytest.mark.parametrize("url", [LISTING, PAPER, "/api/v1/listings/cs.LG"])
def test_the_same_version_is_answered_304_without_a_body(
    client: TestClient, session: Session, url: str
) -> None:
    _ingest(session, _entry(1), _entry(2))
    first = client.get(url)
    etag = first.headers["etag"]
    # Weak: one tag for the identity, gzip and brotli forms alike (a strong one must differ by coding).
    assert first.status_code == 200 and etag.startswith('W/"') and len(etag) > 20
    for coding in ("identity", "gzip"):
        assert client.get(url, headers={"Accept-Encoding": coding}).headers["etag"] == etag
    assert _vary(first).count("Accept-Encoding") <= 1  # (none under 1 KB), never twice
    unchanged = client.get(url, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["etag"] == etag and unchanged.headers["cache-control"].startswith("max-age=")
    strong = client.get(
        url, headers={"If-None-Match": f'"other", {etag.removeprefix("W/")}'}
    )  # compared weakly
    assert strong.status_code == 304
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    other = client.get(f"{url}?skip=1" if "?" not in url else f"{url}&skip=1")  # another URL, another version
    assert other.headers["etag"] != etag


def test_counts_are_not_in_the_page_and_do_not_change_it(client: TestClient, session: Session) -> None:
    _ingest(session, _entry(1), _entry(2))
    first = client.get(LISTING)
    bump_counter(session, paper_id=_paper_id(session, "2603.00001"), kind="pdf", day=DAY, delta=3)
    bump_counter(session, paper_id=_paper_id(session, "2603.00001"), kind="kimi", day=DAY)
    session.commit()
    assert client.get(LISTING, headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    soup = BeautifulSoup(first.text, "html.parser")
    assert soup.select_one("sup[id='pdf-stars-2603.00001']").text == ""  # filled by site.js
    counts = client.post("/api/v1/counters", json={"papers": ["2603.00001", "2603.00002v1", "2101.99999"]})
    assert counts.status_code == 200
    assert counts.json()["items"] == [
        {"arxiv_id": "2603.00001", "pdf": 3, "kimi": 1},
        {"arxiv_id": "2603.00002", "pdf": 0, "kimi": 0},
        {"arxiv_id": "2101.99999", "pdf": 0, "kimi": 0},  # not stored: nothing opened here
    ]


@pytest.mark.parametrize(
    ("body", "status"),
    [({"papers": []}, 422), ({"papers": ["2603.00001"] * 5001}, 422), ({"papers": ["not an id"]}, 422)],
)
def test_counters_refuse_bad_lists(client: TestClient, body: dict[str, object], status: int) -> None:
    response = client.post("/api/v1/counters", json=body)
    assert response.status_code == status and response.json()["detail"]


def test_popular_order_is_kept_while_no_counter_moves(client: TestClient, session: Session) -> None:
    """The counters of the day's papers join the page's stamp: one render serves every reader until
    a paper is opened, and the next request after that gets the new order, never a stale one."""
    _ingest(session, _entry(1), _entry(2))
    first = client.get(f"{LISTING}?sort=popular")
    assert _ids(first) == ["2603.00001", "2603.00002"]
    assert first.headers["cache-control"] == "no-cache"  # always revalidated: counters move any time
    etag = first.headers["etag"]
    assert client.get(f"{LISTING}?sort=popular", headers={"If-None-Match": etag}).status_code == 304
    assert len(kept_responses()) == 1
    bump_counter(session, paper_id=_paper_id(session, "2603.00002"), kind="kimi", day=DAY)
    session.commit()
    moved = client.get(f"{LISTING}?sort=popular", headers={"If-None-Match": etag})
    assert moved.status_code == 200 and moved.headers["etag"] != etag
    assert _ids(moved) == ["2603.00002", "2603.00001"]
    bump_counter(session, paper_id=_paper_id(session, "2603.00002"), kind="kimi", day=DAY)  # same row, +1
    session.commit()
    assert client.get(f"{LISTING}?sort=popular").headers["etag"] != moved.headers["etag"]


def test_the_first_html_response_is_compressed(client: TestClient, session: Session) -> None:
    _ingest(session, *(_entry(n) for n in range(1, 30)))
    for url in (LISTING, PAPER, "/api/v1/listings/cs.LG", f"{LISTING}/feed", "/"):
        raw = client.get(url, headers={"Accept-Encoding": "gzip"})  # httpx decodes; the header stays
        assert raw.headers.get("content-encoding") == "gzip" and _vary(raw).count("Accept-Encoding") == 1, url
        plain = client.get(url, headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.content == raw.content, url
    with client.stream("GET", LISTING, headers={"Accept-Encoding": "gzip"}) as response:
        wire = b"".join(response.iter_raw())
    assert len(wire) * 3 < len(gzip.decompress(wire)), "the listing crossed the wire uncompressed"


def test_a_kept_page_is_sent_in_brotli_when_asked_and_each_coding_is_made_once(
    client: TestClient, session: Session
) -> None:
    _ingest(session, *(_entry(n) for n in range(1, 30)))
    plain = client.get(LISTING, headers={"Accept-Encoding": "identity"}).content
    browser = "gzip, deflate, br, zstd"  # what Chromium asks, over plain http too
    for _ in range(2):
        with client.stream("GET", LISTING, headers={"Accept-Encoding": browser}) as response:
            wire = b"".join(response.iter_raw())
            assert (
                response.headers["content-encoding"] == "br" and _vary(response).count("Accept-Encoding") == 1
            )
        assert brotli.decompress(wire) == plain
    (kept,) = kept_responses().values()
    assert set(kept.coded) == {"br"} and kept.size == len(plain) + len(wire)  # counted once made
    refused = client.get(LISTING, headers={"Accept-Encoding": "br;q=0, gzip;q=0.5"})
    assert refused.headers["content-encoding"] == "gzip" and refused.content == plain
    assert set(kept.coded) == {"br", "gzip"}
    assert "content-encoding" not in client.get(LISTING, headers={"Accept-Encoding": "zstd"}).headers


def test_one_cache_entry_per_listing_url_replaced_when_the_day_changes(
    client: TestClient, session: Session
) -> None:
    _ingest(session, _entry(1))
    client.get(LISTING)
    (first,) = kept_responses().values()
    assert client.get(LISTING).content == first.body  # served from the entry
    _ingest(session, _entry(1, version=2, title="Paper number 1, revised"))
    assert "Paper number 1, revised" in client.get(LISTING).text
    (second,) = kept_responses().values()  # the same URL's entry, replaced
    assert second.etag != first.etag


def test_static_files_with_their_hash_are_immutable(client: TestClient) -> None:
    soup = BeautifulSoup(client.get("/").text, "html.parser")
    sources = [s["src"] for s in soup.select("script[src]")] + [s["href"] for s in soup.select("link[href]")]
    assert sources and all("?v=" in src for src in sources), sources
    for src in sources:
        response = client.get(src)
        assert response.status_code == 200, src
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable", src
    stale = client.get(sources[0].partition("?")[0] + "?v=0ld")  # an old page's link: revalidated
    assert stale.headers["cache-control"] == "public, max-age=3600" and stale.headers["etag"]
    assert client.get(sources[0], headers={"If-None-Match": stale.headers["etag"]}).status_code == 304
