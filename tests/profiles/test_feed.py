"""The profile's digest as an Atom feed at its secret URL; the unsubscribe link over HTTP."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.arxiv.parse import parse_feed
from app.profiles.deliver import unsubscribe_signature
from app.search.embed import embed_missing
from app.store.ingest import ingest_feed
from app.store.models import Paper, Profile
from tests.conftest import DATA
from tests.fakes import FakeEmbedder

ATOM = "{http://www.w3.org/2005/Atom}"
T1 = "2026-01-01T10:00:00Z"


@pytest.fixture
def day(session: Session) -> Session:
    feed = parse_feed((DATA / "api" / "api-2025-cs-100-entries.xml").read_bytes())
    ingest_feed(session, feed=feed, categories=["cs.CV"], day=dt.date(2025, 12, 15))
    embed_missing(session, FakeEmbedder(name="all-MiniLM-L6-v2"))
    return session


def test_feed_lists_the_profiles_picks(client: TestClient, day: Session) -> None:
    star = day.scalars(select(Paper).order_by(Paper.id)).first()
    assert star is not None
    token = client.post("/api/v1/profiles").json()["token"]
    items = {
        "stars": [{"value": star.arxiv_id, "updated_at": T1}],
        "categories": [{"value": "cs.CV", "updated_at": T1}],
    }
    client.put(f"/api/v1/profiles/{token}", json={"items": items})
    response = client.get(f"/api/v1/profiles/{token}/feed")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    assert token not in response.text  # the feed's id must not leak the key
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 10
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    assert f"https://arxiv.org/abs/{star.arxiv_id}" not in ids
    assert all((e.findtext(f"{ATOM}summary") or "").startswith("close to ") for e in entries)


def test_feed_of_an_empty_database_is_an_empty_feed(client: TestClient) -> None:
    token = client.post("/api/v1/profiles").json()["token"]
    feed = ET.fromstring(client.get(f"/api/v1/profiles/{token}/feed").content)
    assert feed.findall(f"{ATOM}entry") == []


def test_unsubscribe_link_over_http(client: TestClient, session: Session) -> None:
    token = client.post("/api/v1/profiles").json()["token"]
    digest = {"frequency": "weekly", "email": "r@example.org", "updated_at": T1}
    client.put(f"/api/v1/profiles/{token}", json={"digest": digest})
    profile = session.scalars(select(Profile).order_by(Profile.id.desc())).first()
    assert profile is not None
    assert client.get(f"/api/v1/profiles/unsubscribe/{profile.id}/{'0' * 32}").status_code == 404
    signature = unsubscribe_signature(profile.unsubscribe_key, profile.id)
    link = f"/api/v1/profiles/unsubscribe/{profile.id}/{signature}"
    # Opening the link (a reader, or a mail scanner: it unsubscribed them) leads to the button only.
    opened = client.get(link)
    assert opened.status_code == 200 and '<form method="post">' in opened.text
    assert opened.url.path == f"/digest/unsubscribe/{profile.id}/{signature}"
    assert client.get(f"/api/v1/profiles/{token}").json()["digest"]["email"] == "r@example.org"
    assert client.get(f"/digest/unsubscribe/{profile.id}/{'0' * 32}").status_code == 404
    stopped = client.post(opened.url.path)
    assert stopped.status_code == 200 and "have stopped" in stopped.text
    assert client.get(f"/api/v1/profiles/{token}").json()["digest"] == {
        **client.get(f"/api/v1/profiles/{token}").json()["digest"],
        "email": None,
        "frequency": "weekly",
    }
    assert client.post(link).status_code == 200  # RFC 8058's one-click POST, from mail clients


def test_feed_drops_characters_xml_forbids() -> None:
    from app.profiles.atom import digest_feed
    from app.profiles.digest import Digest, DigestPaper

    paper = DigestPaper(1, "2501.00001", "A title\x01", ["Ada\x00"], "/arxiv/2501.00001",
                        "https://arxiv.org/abs/2501.00001", 1.0, "close to x", summary="It \x0bworks")  # fmt: skip
    day = dt.date(2026, 1, 1)
    feed = ET.fromstring(digest_feed(Digest(1, day, day, "daily", [paper]), feed_id="urn:x", site="http://s"))
    entry = feed.find(f"{ATOM}entry")
    assert entry is not None and entry.findtext(f"{ATOM}title") == "A title"
    assert entry.findtext(f"{ATOM}summary") == "It works\nclose to x"


def test_a_feeds_id_is_never_another_profiles(client: TestClient) -> None:
    """Built from the row id, which SQLite hands out again once the newest profile is revoked: a new
    profile's feed had a revoked one's id (QA), and feed readers merge feeds by id."""
    first = client.post("/api/v1/profiles").json()["token"]
    first_id = ET.fromstring(client.get(f"/api/v1/profiles/{first}/feed").content).findtext(f"{ATOM}id")
    assert client.delete(f"/api/v1/profiles/{first}").status_code == 204
    second = client.post("/api/v1/profiles").json()["token"]
    second_id = ET.fromstring(client.get(f"/api/v1/profiles/{second}/feed").content).findtext(f"{ATOM}id")
    assert first_id and second_id and first_id != second_id and second_id.startswith("tag:")
    assert first not in first_id and second not in second_id
