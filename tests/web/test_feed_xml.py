"""Feeds stay well-formed XML whatever the query holds, with time zones; id pages are capped."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.arxiv.parse import parse_feed
from app.arxiv.types import Feed, FeedEntry
from app.store.ingest import ingest_feed
from tests.conftest import DATA

RSS2 = DATA / "rss" / "rss2-2024-multicat-csLG+csAI+csCL+statML.xml"
ATOM = "{http://www.w3.org/2005/Atom}"


def test_search_feed_with_a_control_character_is_well_formed(client: TestClient, session: Session) -> None:
    ingest_feed(session, feed=parse_feed(RSS2.read_bytes()))
    response = client.get("/arxiv/search/feed?query=learning%01%08")
    assert response.status_code == 200
    root = ET.fromstring(response.content)  # raises on a control character
    assert "\x01" not in (root.findtext(f"{ATOM}title") or "")


def test_feed_updated_carries_a_time_zone(client: TestClient, session: Session) -> None:
    ingest_feed(session, feed=parse_feed(RSS2.read_bytes()))
    root = ET.fromstring(client.get("/arxiv/cs.LG/feed").content)
    updated = root.findtext(f"{ATOM}updated") or ""
    assert updated.endswith("Z") and "T" in updated


def test_more_than_200_ids_is_a_422(client: TestClient) -> None:
    ids = ",".join(f"2401.{n:05d}" for n in range(201))
    response = client.get(f"/arxiv/{ids}")
    assert response.status_code == 422 and "at most 200 paper ids" in response.text


RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def _dates(root: ET.Element) -> list[str]:
    return [e.text or "" for e in root.iter() if e.tag in (f"{ATOM}updated", f"{ATOM}published")]


def test_every_feed_date_is_rfc3339_even_without_papers_or_publication_date(
    client: TestClient, session: Session
) -> None:
    undated = FeedEntry(
        arxiv_id="2611.20004", version=1, title="A paper from the legacy feed", abstract="No date here.",
        authors=("Ada Lovelace",), primary_category="hep-ex", categories=("hep-ex",), announce_type="new",
        published_at=None,
    )  # fmt: skip
    feed = Feed(
        kind="rss2", title="t", entries=(undated,), announced_on=dt.date(2026, 11, 10), categories=("hep-ex",)
    )
    ingest_feed(session, feed=feed)
    for path in ("/arxiv/hep-ex/feed", "/arxiv/math.AG/feed", "/venue/latest/feed", "/arxiv/2611.20004/feed"):
        response = client.get(path)
        assert response.status_code == 200, path
        root = ET.fromstring(response.content)
        dates = _dates(root)
        assert dates and all(RFC3339.fullmatch(d) for d in dates), (path, dates)  # were "" and "Z"
    entry = ET.fromstring(client.get("/arxiv/hep-ex/feed").content).find(f"{ATOM}entry")
    assert entry is not None and entry.find(f"{ATOM}published") is None  # optional: left out, not made up


def test_a_search_feed_links_its_search_page(client: TestClient, session: Session) -> None:
    ingest_feed(session, feed=parse_feed(RSS2.read_bytes()))
    for params, page in (
        ("query=neural%20nets", "/arxiv/search?query=neural+nets"),
        ("author=Ada%20Lovelace", "/arxiv/search?author=Ada+Lovelace"),
    ):
        root = ET.fromstring(client.get(f"/arxiv/search/feed?{params}").content)
        link = root.find(f"{ATOM}link[@rel='alternate']")
        assert link is not None and link.get("href") == f"http://testserver{page}"
