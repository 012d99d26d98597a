"""The edge: security headers and CSP, body size limit, per-client rate limits, counters that
cannot be pumped, admin token compared safely."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.arxiv.parse import parse_feed
from app.config import get_settings
from app.store.ingest import ingest_feed
from tests.conftest import DATA

RSS2 = DATA / "rss" / "rss2-2024-multicat-csLG+csAI+csCL+statML.xml"


@pytest.fixture
def loaded(session: Session) -> Session:
    ingest_feed(session, feed=parse_feed(RSS2.read_bytes()))
    return session


@pytest.mark.parametrize(
    "url", ["/", "/arxiv/cs.LG", "/arxiv/2609.26811", "/api/v1/categories", "/docs", "/nope"]
)
def test_every_response_carries_strict_headers(client: TestClient, loaded: Session, url: str) -> None:
    headers = client.get(url).headers
    csp = headers["content-security-policy"]
    assert "script-src 'self';" in csp  # <script> elements: files from this origin only
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_csp_allows_no_inline_script_of_any_kind(client: TestClient) -> None:
    directives = dict(
        part.strip().split(" ", 1) for part in client.get("/").headers["content-security-policy"].split(";")
    )
    assert directives["script-src"] == "'self'"
    # Handler attributes (papers.cool's onclick) fall back to script-src: they are not allowed to run.
    assert "script-src-attr" not in directives and "script-src-elem" not in directives
    assert "unsafe" not in directives["default-src"]


@pytest.mark.parametrize("url", ["/", "/arxiv/cs.LG", "/arxiv/2609.26811", "/docs", "/stars", "/status"])
def test_pages_have_no_inline_script(client: TestClient, loaded: Session, url: str) -> None:
    soup = BeautifulSoup(client.get(url).text, "html.parser")
    assert [s for s in soup.select("script") if not s.get("src")] == []
    for src in (s["src"] for s in soup.select("script[src]")):
        assert src.startswith("/static/"), src


def test_oversized_bodies_are_413(client: TestClient) -> None:
    big = {"papers": ["2609.26811"] * 10, "keywords": ["x" * 100] * 50, "pad": "y" * 2_000_000}
    response = client.post("/api/v1/rank", json=big)
    assert response.status_code == 413 and "larger than" in response.json()["detail"]

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(30):
            yield b"z" * 100_000

    streamed = client.post("/api/v1/rank", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413


def test_search_is_rate_limited_per_client(
    client: TestClient, loaded: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RATE_SEARCH_PER_MINUTE", "3")
    get_settings.cache_clear()
    codes = [
        client.get("/api/v1/search", params={"q": "learning", "mode": "keyword"}).status_code
        for _ in range(5)
    ]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    refused = client.get("/api/v1/search", params={"q": "learning"})
    assert 0 < int(refused.headers["retry-after"]) <= 60
    assert "too many" in refused.json()["detail"]


def test_star_counts_once_per_client_paper_and_day(client: TestClient, loaded: Session) -> None:
    first = client.post("/arxiv/star", params={"paper": "2609.26811", "key": "pdf"})
    assert first.status_code == 200 and first.json()["count"] == 1
    again = client.post("/arxiv/star", params={"paper": "2609.26811", "key": "pdf"})
    assert again.status_code == 200 and again.json()["counted"] is False
    assert again.json()["count"] == 1  # the total, not counted again (a repeat is no error)
    assert client.post("/arxiv/star", params={"paper": "2609.26811", "key": "kimi"}).json()["count"] == 1


@pytest.mark.parametrize(
    ("token", "header", "status"),
    [
        (None, "Bearer x", 403),
        ("s3cret", None, 401),
        ("s3cret", "Bearer wrong", 401),
        ("s3cret", "Basic s3cret", 401),
    ],
)
def test_admin_needs_the_token(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, token: str | None, header: str | None, status: int
) -> None:
    if token:
        monkeypatch.setenv("ADMIN_TOKEN", token)
    else:
        monkeypatch.delenv("ADMIN_TOKEN", raising=False)
    get_settings.cache_clear()
    headers = {"Authorization": header} if header else {}
    response = client.post("/api/v1/admin/reindex", headers=headers)
    assert response.status_code == status
    assert "s3cret" not in response.text
