"""The JSON API: categories, listings, papers; errors are JSON with a message, never a 500."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.arxiv.parse import parse_feed
from app.arxiv.types import PAPER_FIELDS
from app.store.ingest import ingest_feed
from tests.conftest import DATA

RSS2 = DATA / "rss" / "rss2-2024-multicat-csLG+csAI+csCL+statML.xml"
LEGACY_API = DATA / "api" / "api-legacy-csRO-search.xml"
OAI = DATA / "oai" / "oai-listrecords-arXiv-cs-2015.xml"


@pytest.fixture
def loaded(session: Session) -> Session:
    ingest_feed(session, feed=parse_feed(RSS2.read_bytes()))
    return session


def test_categories(client: TestClient, loaded: Session) -> None:
    body = client.get("/api/v1/categories").json()
    assert {c["category"]: (c["latest_date"], c["count"]) for c in body} == {
        "cs.AI": ("2026-09-24", 1),
        "cs.LG": ("2026-09-24", 3),
        "stat.ML": ("2026-09-24", 2),
    }


def test_listing_envelope_and_paging(client: TestClient, loaded: Session) -> None:
    body = client.get("/api/v1/listings/cs.LG,stat.ML", params={"limit": 2, "skip": 1}).json()
    assert (body["total"], body["limit"], body["offset"], body["date"]) == (4, 2, 1, "2026-09-24")
    assert [(p["arxiv_id"], p["section"]) for p in body["items"]] == [
        ("2609.26820", "new"),
        ("2205.06398", "cross"),
    ]
    paper = body["items"][0]
    assert paper["pdf_url"] == "https://arxiv.org/pdf/2609.26820v1"
    assert paper["abs_url"] == "https://arxiv.org/abs/2609.26820v1"
    assert paper["authors"] == ["Naser Mansour", "Sidahmed Benabderrahmane", "Ameer Rahwan"]
    assert paper["categories"] == ["cs.LG", "cs.AI"]


def test_paper_by_id_any_spelling(client: TestClient, loaded: Session) -> None:
    for spelling in ("2009.13987", "2009.13987v2", "arXiv:2009.13987"):
        response = client.get(f"/api/v1/papers/{spelling}")
        assert response.status_code == 200, spelling
        assert response.json()["arxiv_id"] == "2009.13987"


def test_paper_has_every_declared_field(client: TestClient, session: Session) -> None:
    ingest_feed(session, feed=parse_feed(OAI.read_bytes()))
    body = client.get("/api/v1/papers/1501.03549").json()
    extras = ["pdf_url", "abs_url", "source", "venue", "tldr"]
    assert list(body) == [*(spec.name for spec in PAPER_FIELDS), *extras]
    assert body["tldr"] is None  # no model wrote one: null, never an invented line
    assert (body["msc_class"], body["acm_class"]) == ("52C25, 74N10", "I.3.5")
    assert (body["authors"], body["published_at"]) == (
        ["Ciprian S. Borcea", "Ileana Streinu"],
        "2015-01-14T00:00:00Z",
    )
    assert body["license"] == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"


def test_old_style_id(client: TestClient, session: Session) -> None:
    feed = parse_feed(LEGACY_API.read_bytes())
    ingest_feed(session, feed=feed)
    entry = feed.entries[0]
    body = client.get(f"/api/v1/papers/{entry.arxiv_id}").json()
    assert body["title"] == entry.title


def test_papers_by_ids_keeps_order_and_skips_unknown(client: TestClient, loaded: Session) -> None:
    body = client.get("/api/v1/papers", params={"ids": "2205.06398,2101.99999,2609.26811"}).json()
    assert [p["arxiv_id"] for p in body["items"]] == ["2205.06398", "2609.26811"]
    assert body["total"] == 2


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/api/v1/papers/2101.99999", 404),
        ("/api/v1/papers/not-an-id", 422),
        ("/api/v1/papers/%3Cscript%3E", 422),
        ("/api/v1/papers?ids=", 422),
        ("/api/v1/papers?ids=,,,", 422),
        ("/api/v1/papers?ids=abc", 422),
        ("/api/v1/listings/cs.LG?limit=0", 422),
        ("/api/v1/listings/cs.LG?limit=100000", 422),
        ("/api/v1/listings/cs.LG?skip=-5", 422),
        ("/api/v1/listings/cs.LG?date=2026-13-45", 422),
        ("/api/v1/listings/SELECT%20*", 422),
        ("/api/v1/nothing-here", 404),
    ],
)
def test_errors_are_json_with_message(client: TestClient, loaded: Session, url: str, status: int) -> None:
    response = client.get(url)
    assert response.status_code == status
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail


def test_too_many_ids(client: TestClient) -> None:
    ids = ",".join(f"2101.{n:05d}" for n in range(201))
    assert client.get("/api/v1/papers", params={"ids": ids}).status_code == 422


def test_openapi_documents_every_route(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/api/v1/categories",
        "/api/v1/listings/{cats}",
        "/api/v1/papers",
        "/api/v1/papers/{arxiv_id}",
    } <= set(paths)
    docs = client.get("/docs")
    assert docs.status_code == 200
    # swagger-ui is vendored: no script or stylesheet from a CDN (the footer may link to arXiv)
    assert not re.search(r'<(script|link)[^>]+(src|href)="https?://', docs.text)
    assert 'class="site-header"' in docs.text  # the site's own page around it
