"""Pages keep papers.cool's URLs and markup: checked with a real HTML parser."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.arxiv.parse import parse_feed
from app.arxiv.types import Feed, FeedEntry
from app.store.ingest import ingest_feed
from tests.conftest import DATA

RSS2 = DATA / "rss" / "rss2-2024-multicat-csLG+csAI+csCL+statML.xml"
ATOM = DATA / "rss" / "atom-2024-csLG.xml"


@pytest.fixture
def loaded(session: Session) -> Session:
    ingest_feed(session, feed=parse_feed(RSS2.read_bytes()))
    ingest_feed(session, feed=parse_feed(ATOM.read_bytes()))
    return session


def _soup(response_text: str) -> BeautifulSoup:
    return BeautifulSoup(response_text, "html.parser")


def test_listing_page_has_papers_cool_markup(client: TestClient, loaded: Session) -> None:
    response = client.get("/arxiv/cs.LG?date=2026-09-24")
    assert response.status_code == 200
    soup = _soup(response.text)
    assert soup.html is not None and soup.html["lang"] == "en"
    assert soup.title is not None and "cs.LG" in soup.title.text
    assert soup.select_one('meta[name="description"]') is not None
    papers = soup.select("div.papers > div.paper")
    assert [p["id"] for p in papers] == ["2609.26811", "2609.26820", "2009.13987"]
    paper = papers[0]
    pid = "2609.26811"
    assert paper["keywords"]
    title = paper.select_one(f"a.title-link[id='title-{pid}']")
    assert title is not None and title["href"] == f"/arxiv/{pid}"
    assert "Drift Contract" in title.text
    pdf = paper.select_one(f"a.title-pdf[id='pdf-{pid}']")
    assert pdf is not None and pdf["data"] == f"https://arxiv.org/pdf/{pid}v1"
    assert pdf["onclick"] == f"togglePdf('{pid}', 'https://arxiv.org/pdf/{pid}v1', this)"
    # The counters' places are kept, empty: site.js fills them from POST /api/v1/counters.
    assert pdf.select_one(f"sup[id='pdf-stars-{pid}']").text == ""
    assert paper.select_one(f"a.title-kimi sup[id='kimi-stars-{pid}']").text == ""
    assert [a.text for a in paper.select(f"p.authors[id='authors-{pid}'] a.author")] == ["Fabien Polly"]
    assert paper.select_one(f"p.summary[id='summary-{pid}']").text.startswith("Local learning trains")
    assert [a.text for a in paper.select(f"p.subjects[id='subjects-{pid}'] a")] == ["cs.LG"]
    date_text = list(paper.select_one(f"p.date[id='date-{pid}']").stripped_strings)[-1]
    assert dt.datetime.strptime(date_text, "%Y-%m-%d %H:%M:%S")
    # What papers.cool's Zotero translator reads: the page's half (`arxiv`), the panel cards, and
    # the index of the page's entries, each a link to its card, in the cards' order (all sections).
    assert soup.body is not None and soup.body["id"] == "arxiv" and "panel" in paper["class"]
    entries = soup.select("div.items > p .i-title")
    assert [a["href"] for a in entries] == [f"#{p['id']}" for p in papers]
    assert "Drift Contract" in entries[0].text


def test_listing_page_sections_and_day_navigation(client: TestClient, loaded: Session) -> None:
    soup = _soup(client.get("/arxiv/cs.LG?date=2026-09-24").text)
    sections = {s["id"]: [p["id"] for p in s.select("div.paper")] for s in soup.select("details.section")}
    assert sections == {
        "section-new": ["2609.26811", "2609.26820"],
        "section-cross": [],
        "section-replace": ["2009.13987"],
    }
    next_link = soup.select_one("a.next-day")
    assert next_link is not None and next_link["href"] == "/arxiv/cs.LG?date=2026-09-25"
    assert soup.select_one("a.prev-day") is None


def test_listing_paging_with_show_and_skip(client: TestClient, loaded: Session) -> None:
    soup = _soup(client.get("/arxiv/cs.LG?date=2026-09-24&show=1&skip=1").text)
    assert [p["id"] for p in soup.select("div.paper")] == ["2609.26820"]


def test_empty_listing_shows_no_results(client: TestClient, loaded: Session) -> None:
    response = client.get("/arxiv/cs.CV")
    assert response.status_code == 200
    assert _soup(response.text).select_one(".no-results") is not None


def test_paper_page_has_scholar_tags(client: TestClient, loaded: Session) -> None:
    response = client.get("/arxiv/2609.26820")
    assert response.status_code == 200
    soup = _soup(response.text)
    assert soup.select_one('meta[name="citation_title"]')["content"].startswith("Signal2Symbol")
    authors = [m["content"] for m in soup.select('meta[name="citation_author"]')]
    assert authors == ["Naser Mansour", "Sidahmed Benabderrahmane", "Ameer Rahwan"]
    assert soup.select_one('meta[name="citation_date"]')["content"] == "2026/09/24"
    assert soup.select_one('meta[name="citation_pdf_url"]')["content"].startswith("https://arxiv.org/pdf/")
    assert soup.select_one('meta[name="citation_abstract"]') is not None


def test_several_papers_page_and_unknown_id(client: TestClient, loaded: Session) -> None:
    soup = _soup(client.get("/arxiv/2609.26820,2609.26811v1").text)
    assert [p["id"] for p in soup.select("div.paper")] == ["2609.26820", "2609.26811"]
    assert client.get("/arxiv/2101.00001").status_code == 404


def test_index_lists_categories_with_latest_day(client: TestClient, loaded: Session) -> None:
    soup = _soup(client.get("/").text)
    row = soup.select_one('tr[id="cat-cs.LG"]')
    assert row is not None
    cells = [td.text.strip() for td in row.select("td")]
    assert cells == ["cs.LG Machine Learning", "2026-09-25", "3"]  # the code, then its name


def test_atom_feed_of_listing(client: TestClient, loaded: Session) -> None:
    response = client.get("/arxiv/cs.LG/feed?date=2026-09-24")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    ns = {"a": "http://www.w3.org/2005/Atom"}
    root = ET.fromstring(response.content)
    titles = [e.findtext("a:title", namespaces=ns) for e in root.findall("a:entry", ns)]
    assert len(titles) == 3 and titles[0].startswith("The Drift Contract")


def test_hostile_title_is_escaped(client: TestClient, session: Session) -> None:
    evil = FeedEntry(
        arxiv_id="2601.00001",
        version=1,
        title='<script>alert(1)</script><img src=x onerror="alert(2)"> $x^2$',
        abstract="<b>bold</b> & </p><script>alert(3)</script>",
        authors=('<a href="javascript:alert(4)">Eve</a>',),
        primary_category="cs.CR",
        categories=("cs.CR",),
        announce_type="new",
    )
    feed = Feed(kind="rss2", title="t", entries=(evil,), announced_on=dt.date(2026, 1, 5))
    ingest_feed(session, feed=feed, categories=["cs.CR"])
    for url in ("/arxiv/cs.CR", "/arxiv/2601.00001"):
        soup = _soup(client.get(url).text)
        assert soup.select("script:not([src])") == []
        assert soup.select("img") == []
        assert soup.select_one('[id="title-2601.00001"]').text.startswith("<script>alert(1)</script>")
        assert "javascript:" not in " ".join(a.get("href", "") for a in soup.select("a"))


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/arxiv/cs.LG?date=yesterday", 422),
        ("/arxiv/cs.LG?show=0", 422),
        ("/arxiv/cs.LG?skip=-1", 422),
        ("/arxiv/DROP%20TABLE", 422),
        ("/arxiv/cs.LG%3Cscript%3E", 422),
    ],
)
def test_bad_page_parameters_are_clear_errors(client: TestClient, url: str, status: int) -> None:
    response = client.get(url)
    assert response.status_code == status
    assert _soup(response.text).select_one(".error-detail").text


def test_static_katex_is_vendored(client: TestClient) -> None:
    soup = _soup(client.get("/").text)
    sources = [s["src"] for s in soup.select("script[src]")]
    assert "/static/vendor/katex/katex.min.js" in [src.partition("?")[0] for src in sources]
    for src in sources:
        assert client.get(src).status_code == 200, src
