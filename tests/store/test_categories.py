"""The fetch schedule grows only by real categories that have papers, a bounded number per client."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.arxiv.parse import parse_feed
from app.arxiv.taxonomy import taxonomy
from app.store import categories
from app.store.categories import PER_CLIENT_DAY, categories_to_fetch, note_categories_opened
from app.store.ingest import ingest_feed
from app.store.models import CategoryView
from tests.conftest import DATA

RSS2 = DATA / "rss" / "rss2-2024-multicat-csLG+csAI+csCL+statML.xml"  # cs.AI, cs.CL, cs.LG, stat.ML
TODAY = dt.date(2026, 12, 6)


@pytest.fixture(autouse=True)
def forget_noted() -> Iterator[None]:
    categories._noted.clear()
    categories._by_client.clear()
    yield
    categories._noted.clear()
    categories._by_client.clear()


def _views(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(CategoryView)) or 0


def test_note_records_only_taxonomy_categories_with_papers(session: Session) -> None:
    ingest_feed(session, feed=parse_feed(RSS2.read_bytes()))
    made_up = [f"cs.Z{a}{b}" for a in "abcdefghijklmnopqrstuvwxyz" for b in "abcdefghijklmnopqrstuvwxyz"]
    real_without_papers = ["math.AG", "hep-ex", "q-bio.NC"]
    recorded = note_categories_opened(
        session, ["cs.LG", "cs", *made_up, *real_without_papers, "stat.ML"], client="a", today=TODAY
    )
    assert recorded == ["cs.LG", "stat.ML"]
    assert _views(session) == 2
    assert categories_to_fetch(session, configured=["cs.AI"], since=TODAY) == ["cs.AI", "cs.LG", "stat.ML"]


def test_note_caps_new_categories_per_client_and_day(session: Session) -> None:
    ingest_feed(session, feed=parse_feed(RSS2.read_bytes()))
    real = [code for code in taxonomy().categories if code not in ("cs.LG", "stat.ML")][:PER_CLIENT_DAY]
    # The cap is spent on categories without papers: the ones with papers come too late.
    assert note_categories_opened(session, [*real, "cs.LG", "stat.ML"], client="a", today=TODAY) == []
    assert note_categories_opened(session, ["cs.LG"], client="b", today=TODAY) == ["cs.LG"]
    assert note_categories_opened(session, ["stat.ML"], client="a", today=TODAY + dt.timedelta(days=1)) == [
        "stat.ML"
    ]


def test_note_memory_is_bounded(session: Session) -> None:
    for i in range(categories._by_client.maxsize + 10):
        note_categories_opened(session, ["math.AG"], client=f"c{i}", today=TODAY)
    assert len(categories._by_client) <= categories._by_client.maxsize
    assert len(categories._noted) <= categories._noted.maxsize
