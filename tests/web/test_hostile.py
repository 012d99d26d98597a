"""Hostile URLs: a crawler cannot grow the fetch schedule, nor make a query too large to run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.arxiv.parse import parse_feed
from app.arxiv.taxonomy import taxonomy
from app.store import categories
from app.store.ingest import ingest_feed
from app.store.models import CategoryView
from tests.conftest import DATA

RSS2 = DATA / "rss" / "rss2-2024-multicat-csLG+csAI+csCL+statML.xml"


@pytest.fixture(autouse=True)
def forget_noted() -> Iterator[None]:
    categories._noted.clear()
    categories._by_client.clear()
    yield
    categories._noted.clear()
    categories._by_client.clear()


@pytest.fixture
def loaded(session: Session) -> Session:
    ingest_feed(session, feed=parse_feed(RSS2.read_bytes()))
    return session


def test_made_up_categories_are_refused_and_not_recorded(client: TestClient, loaded: Session) -> None:
    made_up = ",".join(f"cs.Z{a}{b}" for a in "abcdefghi" for b in "abcdefghij")
    response = client.get(f"/arxiv/cs.LG,{made_up}")
    assert response.status_code == 422
    assert "arXiv has no category" in response.text and "cs.Zaa" in response.text
    assert loaded.scalar(select(func.count()).select_from(CategoryView)) == 0


def test_real_categories_without_papers_do_not_grow_the_schedule(client: TestClient, loaded: Session) -> None:
    real = [code for code in taxonomy().categories if code.startswith("math.")][:30]
    assert client.get("/arxiv/" + ",".join(["cs.LG", *real])).status_code == 200
    opened = set(loaded.scalars(select(CategoryView.category)))
    assert opened == {"cs.LG"}


@pytest.mark.parametrize("path", ["/arxiv/{cats}", "/arxiv/{cats}/feed", "/api/v1/listings/{cats}"])
def test_a_thousand_categories_is_a_422_not_a_500(client: TestClient, loaded: Session, path: str) -> None:
    cats = ",".join(["cs.LG"] * 1001)
    response = client.get(path.format(cats=cats))
    assert response.status_code == 422
    assert "at most 100 categories" in response.text
