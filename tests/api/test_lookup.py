"""Any arXiv id on demand: fetched through the API (a loopback replay of arXiv), stored, or 404/503."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.config import Settings, get_settings
from app.store import lookup
from tests.arxiv_api import ArxivApiServer


@pytest.fixture
def app_client(settings_env: Settings) -> TestClient:
    from app.main import create_app

    return TestClient(create_app(), raise_server_exceptions=False)


def test_unknown_paper_is_fetched_stored_and_served(
    app_client: TestClient, offline_arxiv: ArxivApiServer
) -> None:
    before = len(offline_arxiv.requests)
    body = app_client.get("/api/v1/papers/1605.08386").json()
    assert body["arxiv_id"] == "1605.08386" and body["title"]
    assert app_client.get("/api/v1/papers/1605.08386").status_code == 200
    assert len(offline_arxiv.requests) == before + 1  # stored: the second read did not ask arXiv
    page = app_client.get("/arxiv/astro-ph/0601001")
    assert page.status_code == 200 and "astro-ph/0601001" in page.text


def test_id_arxiv_does_not_know_is_404_and_remembered(
    app_client: TestClient, offline_arxiv: ArxivApiServer
) -> None:
    response = app_client.get("/api/v1/papers/2101.99990")
    assert response.status_code == 404 and "does not know" in response.json()["detail"]
    asked = len(offline_arxiv.requests)
    assert app_client.get("/arxiv/2101.99990").status_code == 404
    assert len(offline_arxiv.requests) == asked


def test_arxiv_unreachable_is_503_with_retry_after_and_remembered(
    app_client: TestClient, monkeypatch: pytest.MonkeyPatch, offline_arxiv: ArxivApiServer
) -> None:
    monkeypatch.setenv("ARXIV_API_URL", "http://127.0.0.1:9/api/query")
    monkeypatch.setenv("ARXIV_RETRIES", "0")
    get_settings.cache_clear()
    response = app_client.get("/api/v1/papers/2101.00042")
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["detail"]
    # Within the minute, the API answers at once from the failure it remembers (each try took ~20 s
    # of retries against a slow arXiv), though arXiv is back.
    monkeypatch.setenv("ARXIV_API_URL", offline_arxiv.url)
    get_settings.cache_clear()
    asked = len(offline_arxiv.requests)
    again = app_client.get("/api/v1/papers/2101.00042")
    assert again.status_code == 503 and 0 < int(again.headers["retry-after"]) <= lookup.FAILED_TTL
    assert len(offline_arxiv.requests) == asked


def test_too_many_concurrent_lookups_are_refused(
    app_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lookup, "_slots", __import__("threading").BoundedSemaphore(1))
    lookup._slots.acquire()
    try:
        response = app_client.get("/api/v1/papers/2101.00043")
    finally:
        lookup._slots.release()
    assert response.status_code == 503 and response.headers["retry-after"] == "10"
