"""The ranking tests' day: the 100 recorded API entries as one cs.CV day, each with a (fake) vector."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from app.arxiv.parse import parse_feed
from app.search.embed import embed_missing
from app.store.ingest import ingest_feed
from tests.conftest import DATA
from tests.fakes import FakeEmbedder

API100 = DATA / "api" / "api-2025-cs-100-entries.xml"


@pytest.fixture
def day(session: Session) -> Session:
    feed = parse_feed(API100.read_bytes())
    ingest_feed(session, feed=feed, categories=["cs.CV"], day=dt.date(2025, 12, 15))
    embed_missing(session, FakeEmbedder(name="all-MiniLM-L6-v2"))
    return session
