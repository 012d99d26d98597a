"""Feeds stay well-formed XML whatever the query holds, with time zones; id pages are capped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.arxiv.parse import parse_feed
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
