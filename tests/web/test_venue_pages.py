"""Venue pages, feeds and API at papers.cool's URLs, from every recorded venue document."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.arxiv.types import FeedEntry
from app.store.papers import upsert_papers
from app.store.venues import upsert_venue_papers
from app.venues.documents import parse_venue_file
from app.venues.types import VenuePaper
from tests.conftest import DATA

VENUES = DATA / "venues"
# Every whole document recorded (the truncated CVF page, the PMLR site config and a workshop crawl are refused).
FIXTURES = sorted(
    p for p in VENUES.rglob("*")
    if p.is_file() and p.suffix in (".xml", ".json", ".bib", ".html", ".md") and p.parent.name != "_posts"
    and p.name not in ("README.md", "SOURCES.md", "PAPERS_COOL_VENUES.md", "cvpr2020-openaccess-listing.saved.html",
                       "erikbird-example_output.json")  # a workshop's notes: refused
)  # fmt: skip
ATOM = "{http://www.w3.org/2005/Atom}"


def _papers(path: Path) -> tuple[VenuePaper, ...]:
    return parse_venue_file(path).papers


@pytest.fixture
def venues(session: Session) -> dict[Path, tuple[VenuePaper, ...]]:
    loaded = {path: _papers(path) for path in FIXTURES}
    for papers in loaded.values():
        upsert_venue_papers(session, papers=papers)
    session.commit()
    return loaded


def _soup(text: str) -> BeautifulSoup:
    return BeautifulSoup(text, "html.parser")


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_every_fixture_appears_on_its_edition_page(
    client: TestClient, venues: dict[Path, tuple[VenuePaper, ...]], path: Path
) -> None:
    papers = venues[path]
    assert papers, path
    first, last = papers[0], papers[-1]
    response = client.get(f"/venue/{first.edition}")
    assert response.status_code == 200
    soup = _soup(response.text)
    assert soup.select_one("h1").text.strip().startswith(first.edition)
    total = soup.select_one("p.info").text
    ids = [div["id"] for div in soup.select("div.papers > div.paper")]
    assert total == f"Total: {len(ids)}"
    assert first.paper_id in ids and last.paper_id in ids
    card = soup.find(id=first.paper_id)
    pid = first.paper_id
    title = card.select_one(f"a.title-link[id='title-{pid}']")
    assert title["href"] == f"/venue/{pid}"
    pdf = card.select_one(f"a.title-pdf[id='pdf-{pid}']")
    assert pdf["data"] == (first.pdf_url or first.url)
    assert card.select_one(f"sup[id='pdf-stars-{pid}']") is not None
    assert [a.text for a in card.select(f"p.authors[id='authors-{pid}'] a.author")] == list(first.authors)
    subject = card.select_one(f"p.subjects[id='subjects-{pid}'] a.subject-1")
    assert subject.text == first.subject
    expected = f"/venue/{first.edition}" + (
        f"?group={first.group.replace(' ', '%20')}" if first.group else ""
    )
    assert subject["href"] == expected
    assert card.select_one("p.date") is None  # venue cards carry no date, as papers.cool's
    # What papers.cool's Zotero translator reads: the page's half, and the index of its entries.
    assert soup.body["id"] == "venue" and "panel" in card["class"]
    assert [a["href"] for a in soup.select("div.items > p .i-title")] == [f"#{i}" for i in ids]


def test_group_show_and_latest_edition(
    client: TestClient, venues: dict[Path, tuple[VenuePaper, ...]]
) -> None:
    acl = venues[VENUES / "acl-anthology" / "2024.acl.first150.xml"]
    groups = {p.group for p in acl}
    group = sorted(g for g in groups if g)[0]
    in_group = [p.paper_id for p in acl if p.group == group]
    soup = _soup(client.get("/venue/ACL.2024", params={"group": group}).text)
    assert [d["id"] for d in soup.select("div.papers > div.paper")] == in_group
    soup = _soup(client.get("/venue/ACL.2024", params={"show": 5, "skip": 5}).text)
    assert [d["id"] for d in soup.select("div.papers > div.paper")] == [p.paper_id for p in acl[5:10]]
    assert soup.select_one("a.page-next") is not None
    # /venue/{Venue}: its latest edition (NeurIPS: 2021 over 2018); the token is read without case.
    soup = _soup(client.get("/venue/neurips").text)
    assert soup.select_one("h1").text.strip() == "NeurIPS.2021"
    assert client.get("/venue/NoSuchVenue").status_code == 404
    assert client.get("/venue/ICLR.1999").status_code == 404


def test_edition_page_sends_etag_and_304(
    client: TestClient, venues: dict[Path, tuple[VenuePaper, ...]]
) -> None:
    first = client.get("/venue/COLT.2024")
    etag = first.headers["etag"]
    again = client.get("/venue/COLT.2024", headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_paper_pages_by_venue_id(client: TestClient, venues: dict[Path, tuple[VenuePaper, ...]]) -> None:
    colm = venues[VENUES / "openreview" / "derived" / "papercopilot-colm2024.first200.json"]
    one, two = colm[0], colm[1]
    soup = _soup(client.get(f"/venue/{one.paper_id}").text)
    assert soup.select("div.papers > div.paper")[0]["id"] == one.paper_id
    assert soup.select_one('meta[name="citation_publisher"]')["content"] == one.subject
    assert soup.select_one("section#related") is not None
    both = client.get(f"/venue/{one.paper_id},{two.paper_id}")
    assert [d["id"] for d in _soup(both.text).select("div.papers > div.paper")] == [
        one.paper_id,
        two.paper_id,
    ]
    assert client.get(f"/venue/{one.paper_id.replace('@', '%40')}").status_code == 200
    assert client.get("/venue/zzzzzzzz@OpenReview").status_code == 404


def test_feeds_are_atom(client: TestClient, venues: dict[Path, tuple[VenuePaper, ...]]) -> None:
    wnu = venues[VENUES / "acl-anthology" / "2023.wnu.xml"]
    for url in ("/venue/WNU/feed", "/venue/WNU.2023/feed", "/venue/latest/feed"):
        response = client.get(url)
        assert response.status_code == 200 and response.headers["content-type"].startswith(
            "application/atom+xml"
        )
        root = ET.fromstring(response.content)
        assert root.tag == f"{ATOM}feed"
        links = [e.find(f"{ATOM}link").get("href") for e in root.iter(f"{ATOM}entry")]
        if url != "/venue/latest/feed":
            assert [link.rsplit("/venue/", 1)[1] for link in links] == [p.paper_id for p in wnu]
        else:
            assert len(links) == 100


def test_feed_drops_control_characters_xml_forbids(client: TestClient, session: Session) -> None:
    """A source's stray control character (JSON allows \\u0001) must not make the feed ill-formed."""
    colt = _papers(VENUES / "pmlr" / "v247-colt2024" / "colt2024.bib")[0]
    upsert_venue_papers(session, papers=[replace(colt, abstract="Bounds \x01for\x1b learning.")])
    session.commit()
    response = client.get(f"/venue/{colt.paper_id}/feed")
    assert response.status_code == 200
    summary = ET.fromstring(response.content).find(f"{ATOM}entry/{ATOM}summary")
    assert summary is not None and summary.text == "Bounds for learning."


def test_home_page_lists_editions_with_groups(
    client: TestClient, venues: dict[Path, tuple[VenuePaper, ...]]
) -> None:
    soup = _soup(client.get("/").text)
    row = soup.select_one("tr[id='venue-ICLR.2024']")
    assert row is not None
    iclr = venues[VENUES / "openreview" / "derived" / "glimpse-ICLR2024.sample201.json"]
    assert row.select("td")[2].text == str(len(iclr))
    groups = [a.text for a in row.select("a.group")]
    assert groups and set(groups) == {p.group for p in iclr if p.group}


def test_api_venues_and_edition_paged(client: TestClient, venues: dict[Path, tuple[VenuePaper, ...]]) -> None:
    editions = {e["edition"]: e for e in client.get("/api/v1/venues").json()}
    cvpr = venues[VENUES / "cvf" / "papercopilot-cvpr2019.first200.json"]
    assert editions["CVPR.2019"]["count"] == len(cvpr)
    page = client.get("/api/v1/venues/CVPR/2019", params={"limit": 10, "skip": 10}).json()
    assert page["total"] == len(cvpr) and page["limit"] == 10 and page["offset"] == 10
    assert [i["arxiv_id"] for i in page["items"]] == [p.paper_id for p in cvpr[10:20]]
    item = page["items"][0]
    assert item["source"] == cvpr[10].source and item["venue"]["edition"] == "CVPR.2019"
    assert item["pdf_url"] == (cvpr[10].pdf_url or cvpr[10].url)
    assert client.get("/api/v1/venues/CVPR/1980").status_code == 404
    assert client.get("/api/v1/venues/CVPR/99999999999999999999").status_code == 422  # a 500 on SQLite
    one = client.get(f"/api/v1/papers/{cvpr[0].paper_id}")
    assert one.status_code == 200 and one.json()["title"] == cvpr[0].title
    counts = client.post("/api/v1/counters", json={"papers": [cvpr[0].paper_id]})
    assert counts.status_code == 200 and counts.json()["items"][0]["arxiv_id"] == cvpr[0].paper_id


def test_search_finds_venue_papers_and_filters_by_source(
    client: TestClient, venues: dict[Path, tuple[VenuePaper, ...]]
) -> None:
    colt = venues[VENUES / "pmlr" / "v247-colt2024" / "colt2024.bib"][0]
    words = colt.title
    found = client.get("/api/v1/search", params={"q": words, "mode": "keyword"}).json()
    assert found["items"][0]["arxiv_id"] == colt.paper_id
    only_arxiv = client.get(
        "/api/v1/search", params={"q": words, "mode": "keyword", "source": "arxiv"}
    ).json()
    assert colt.paper_id not in [i["arxiv_id"] for i in only_arxiv["items"]]
    pmlr = client.get("/api/v1/search", params={"q": words, "mode": "keyword", "source": "pmlr"}).json()
    assert pmlr["items"][0]["arxiv_id"] == colt.paper_id
    page = _soup(client.get("/venue/search", params={"query": words}).text)
    assert page.select("div.papers > div.paper")[0]["id"] == colt.paper_id


def test_search_and_related_show_a_paper_once(client: TestClient, session: Session) -> None:
    """A venue paper linked to its arXiv version: search and related show the arXiv one only."""
    colt = _papers(VENUES / "pmlr" / "v247-colt2024" / "colt2024.bib")[:3]
    twin = colt[0]
    entry = FeedEntry("2402.00001", 1, twin.title.upper(), twin.abstract, twin.authors, "cs.LG", ("cs.LG",))
    upsert_papers(session, entries=[entry])
    stats = upsert_venue_papers(session, papers=colt)
    session.commit()
    assert stats.linked == 1
    found = client.get("/api/v1/search", params={"q": twin.title, "mode": "keyword"}).json()
    ids = [i["arxiv_id"] for i in found["items"]]
    assert "2402.00001" in ids and twin.paper_id not in ids
    related = client.get(f"/api/v1/papers/{colt[1].paper_id}/related").json()
    related_ids = [i["arxiv_id"] for i in related["items"]]
    assert not ("2402.00001" in related_ids and twin.paper_id in related_ids)
    own = client.get("/api/v1/papers/2402.00001/related").json()
    assert twin.paper_id not in [i["arxiv_id"] for i in own["items"]]
    card = _soup(client.get(f"/venue/{twin.paper_id}").text).find(id=twin.paper_id)
    assert card.select_one("a.arxiv-version")["href"] == "/arxiv/2402.00001"


def test_star_progress_and_kimi_take_a_venue_id(
    client: TestClient, venues: dict[Path, tuple[VenuePaper, ...]]
) -> None:
    paper = venues[VENUES / "openreview" / "derived" / "glimpse-ICLR2024.sample201.json"][0]
    headers = {"Origin": "http://testserver"}
    star = client.post("/venue/star", params={"paper": paper.paper_id, "key": "pdf"}, headers=headers)
    assert star.status_code == 200 and star.json() == {
        "paper": paper.paper_id,
        "key": "pdf",
        "count": 1,
        "counted": True,
    }
    progress = client.get("/venue/progress", params={"paper": paper.paper_id})
    assert progress.status_code == 200 and progress.json()["paper"] == paper.paper_id
    kimi = client.post("/venue/kimi", params={"paper": paper.paper_id}, headers=headers)
    assert kimi.status_code == 200 and "faq" in kimi.text
    assert (
        client.post(
            "/venue/star", params={"paper": "nope@OpenReview", "key": "pdf"}, headers=headers
        ).status_code
        == 404
    )


def test_a_paper_moved_to_another_group_is_a_new_page_version(client: TestClient, session: Session) -> None:
    """Its group, position or link changed by a re-ingest left the edition page (and its ETag) as it was."""
    papers = _papers(VENUES / "pmlr" / "v247-colt2024" / "colt2024.bib")[:3]
    upsert_venue_papers(session, papers=papers)
    session.commit()
    first = client.get("/venue/COLT.2024")
    upsert_venue_papers(session, papers=[replace(papers[0], group="Best Paper"), *papers[1:]])
    session.commit()
    again = client.get("/venue/COLT.2024", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 200 and "Best Paper" in again.text
    unchanged = client.get("/venue/COLT.2024", headers={"If-None-Match": again.headers["etag"]})
    assert unchanged.status_code == 304  # the same documents again change nothing


def test_a_source_nul_is_dropped_and_an_id_no_url_can_name_is_skipped(
    client: TestClient, session: Session
) -> None:
    """A NUL in one title failed a whole ingest on PostgreSQL; a CVF stem with `'` was stored behind a 404."""
    colt = _papers(VENUES / "pmlr" / "v247-colt2024" / "colt2024.bib")[:2]
    odd = replace(colt[1], source_id="O'Brien%2Bsmith_paper")
    stats = upsert_venue_papers(session, papers=[replace(colt[0], title="Bounds\x00 for learning"), odd])
    session.commit()
    assert stats.new == 1
    page = client.get(f"/venue/{colt[0].paper_id}")
    assert page.status_code == 200 and "Bounds for learning" in page.text and "\x00" not in page.text
    assert client.get("/api/v1/papers/" + odd.paper_id).status_code in (404, 422)


def test_an_edition_year_that_is_not_stored_is_404(
    client: TestClient, venues: dict[Path, tuple[VenuePaper, ...]]
) -> None:
    assert client.get("/venue/COLT.0000").status_code == 404  # it was COLT's latest edition
    assert client.get("/venue/COLT.2024").status_code == 200


def test_rank_takes_venue_ids_as_long_as_the_store_allows(
    client: TestClient, venues: dict[Path, tuple[VenuePaper, ...]]
) -> None:
    """A CVF id over 64 characters made POST /api/v1/rank a 422: "for you" broke on every listing."""
    cvf = next(
        p for path, papers in venues.items() if "cvf" in str(path) for p in papers if len(p.paper_id) > 64
    )
    body = {"papers": [cvf.paper_id], "stars": [cvf.paper_id]}
    assert (
        client.post("/api/v1/rank", json=body, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    )


def test_venue_search_offers_no_next_page_past_the_deepest_one(
    client: TestClient, venues: dict[Path, tuple[VenuePaper, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its "next" link led past `skip`'s bound, to a 422 page."""
    from app.web import venues as venue_pages

    monkeypatch.setattr(venue_pages, "MAX_SEARCH_SKIP", 2)
    params = {"query": "learning", "show": 1}
    deep = _soup(client.get("/venue/search", params=params | {"skip": 1}).text)
    assert deep.select_one("a.page-next") is not None  # to skip=2: still within reach
    deepest = _soup(client.get("/venue/search", params=params | {"skip": 2}).text)
    assert int(deepest.select_one(".total").text.split(":")[1]) > 3
    assert deepest.select_one("a.page-next") is None and deepest.select_one("a.page-prev") is not None


def test_a_get_of_the_post_only_venue_urls_is_405(client: TestClient) -> None:
    """RSSHub builds GET /venue/kimi?paper=...: it answered 404 "no venue 'kimi' in this instance"."""
    for path in ("/venue/kimi", "/venue/star"):
        answer = client.get(path, params={"paper": "2024.acl-long.1@ACL"})
        assert answer.status_code == 405 and "POST" in answer.headers["allow"], path


def test_the_sites_json_calls_answer_errors_in_json(client: TestClient) -> None:
    """POST /venue/star of an unknown paper answered a whole HTML error page to a JSON caller."""
    site = {"Sec-Fetch-Site": "same-origin"}
    for url, params in [
        ("/venue/star", {"paper": "nothere@ACL", "key": "pdf"}),
        ("/arxiv/star", {"paper": "2401.99999", "key": "pdf"}),
    ]:
        answer = client.post(url, params=params, headers=site)
        assert answer.status_code == 404 and answer.headers["content-type"] == "application/json", url
        assert "detail" in answer.json()
    bad = client.get("/arxiv/lookup", params={"paper": "garbage"})
    assert bad.status_code == 422 and "detail" in bad.json()


def test_a_partial_document_of_an_edition_keeps_its_order(client: TestClient, session: Session) -> None:
    """One PMLR post (or any file of fewer papers than the edition holds) renumbered from 1: 50 COLT
    papers at position 1, the edition's order scrambled."""
    papers = _papers(VENUES / "pmlr" / "v247-colt2024" / "colt2024.bib")
    upsert_venue_papers(session, papers=papers)
    session.commit()
    later, new = papers[40], replace(papers[0], source_id="zzz24a@v247", title="A paper the listing had not")
    upsert_venue_papers(session, papers=[replace(later, abstract="Fuller."), new])
    session.commit()
    rows = _positions(session)
    assert rows[later.paper_id] == 41 and rows[papers[0].paper_id] == 1
    assert rows[new.paper_id] == len(papers) + 1 and sorted(rows.values()) == list(range(1, len(papers) + 2))
    upsert_venue_papers(session, papers=[*reversed(papers), new])  # a whole listing: its order wins
    session.commit()
    assert _positions(session)[papers[-1].paper_id] == 1


def _positions(session: Session) -> dict[str, int]:
    """Each stored venue paper's position in its edition, by id."""
    from sqlalchemy import select

    from app.store.models import Paper as PaperRow
    from app.store.models import VenueEntry

    query = select(PaperRow.arxiv_id, VenueEntry.position).join(
        VenueEntry, VenueEntry.paper_id == PaperRow.id
    )
    return dict(session.execute(query).all())
