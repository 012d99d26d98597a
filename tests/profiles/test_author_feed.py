"""An author's Atom feed at the author page's URL plus `/feed`, and the sync link's QR code."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections import Counter
from urllib.parse import quote

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.arxiv.parse import parse_feed
from app.store.ingest import ingest_feed
from app.store.models import Paper
from tests.conftest import DATA

API = DATA / "api" / "api-2025-cs-100-entries.xml"  # "Yu Wang" wrote three of its papers
DAY = dt.date(2025, 12, 15)
ATOM = "{http://www.w3.org/2005/Atom}"


def test_author_feed_lists_exactly_that_authors_papers(client: TestClient, session: Session) -> None:
    ingest_feed(session, feed=parse_feed(API.read_bytes()), categories=["cs.CV"], day=DAY)
    papers = list(session.scalars(select(Paper)))
    counts = Counter(name for p in papers for name in p.authors)
    author = counts.most_common(1)[0][0]
    assert counts[author] >= 2  # a feed of more than one paper
    theirs = {p.arxiv_id for p in papers if author in p.authors}
    response = client.get("/arxiv/search/feed", params={"author": author})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(response.content)
    assert author in (root.findtext(f"{ATOM}title") or "")
    entries = root.findall(f"{ATOM}entry")
    ids = {(e.findtext(f"{ATOM}id") or "").rsplit("/", 1)[-1].split("v")[0] for e in entries}
    assert ids == theirs
    for entry in entries:
        assert author in [a.findtext(f"{ATOM}name") for a in entry.findall(f"{ATOM}author")]
    # Spaces as a reader may type them (the profile collapses them): the same papers (QA: none).
    spaced = client.get("/arxiv/search/feed", params={"author": author.replace(" ", "  ") + " "})
    assert len(ET.fromstring(spaced.content).findall(f"{ATOM}entry")) == len(entries)


def test_author_page_links_its_feed(client: TestClient, session: Session) -> None:
    ingest_feed(session, feed=parse_feed(API.read_bytes()), categories=["cs.CV"], day=DAY)
    author = session.scalars(select(Paper)).first().authors[0]  # type: ignore[union-attr]
    page = client.get("/arxiv/search", params={"author": author}).text
    href = "/arxiv/search/feed?author=" + quote(author)
    assert f'rel="alternate" type="application/atom+xml" title="Papers by {author}" href="{href}"' in page
    assert f'id="author-feed" href="{href}"' in page and 'id="author-follow"' in page


def test_a_feed_needs_a_query_or_an_author(client: TestClient) -> None:
    response = client.get("/arxiv/search/feed")
    assert response.status_code == 422 and "query or author" in response.text


def test_sync_link_qr_code_is_svg_under_the_secret_url(client: TestClient) -> None:
    token = client.post("/api/v1/profiles").json()["token"]
    response = client.get(f"/api/v1/profiles/{token}/qr.svg")
    assert response.status_code == 200 and response.headers["content-type"] == "image/svg+xml"
    assert response.headers["cache-control"] == "private, no-store"
    root = ET.fromstring(response.content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("viewBox")
    assert client.get(f"/api/v1/profiles/{'x' * 43}/qr.svg").status_code == 404
    client.delete(f"/api/v1/profiles/{token}")
    assert client.get(f"/api/v1/profiles/{token}/qr.svg").status_code == 404
