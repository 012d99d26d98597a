"""Admin routes in the embedded mode: the token gate, enqueueing an ingest, following its task."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.config import get_settings
from app.main import create_app
from tests.loopback import LoopbackServer, Reply
from tests.workers.conftest import FEED_DAY, counts

TOKEN = "s3cret-admin-token"


@pytest.fixture
def api(arxiv: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The app on the real settings: eager tasks open their own sessions on the test's database."""
    monkeypatch.setenv("ADMIN_TOKEN", TOKEN)
    get_settings.cache_clear()
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield client


def _auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_admin_is_off_without_a_token(arxiv: LoopbackServer) -> None:
    with TestClient(create_app()) as client:
        response = client.post("/api/v1/admin/ingest", json={"category": "cs.LG"}, headers=_auth())
        assert client.post("/api/v1/admin/reindex", headers=_auth()).status_code == 403
        assert client.get("/api/v1/admin/tasks/x", headers=_auth()).status_code == 403
    assert response.status_code == 403
    assert "ADMIN_TOKEN" in response.json()["detail"]
    assert counts(get_settings()) == (0, 0)


@pytest.mark.parametrize(
    "headers", [{}, _auth("wrong"), {"Authorization": TOKEN}, {"Authorization": "Basic x"}]
)
def test_admin_refuses_a_wrong_token(api: TestClient, headers: dict[str, str]) -> None:
    response = api.post("/api/v1/admin/ingest", json={"category": "cs.LG"}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert api.get("/api/v1/admin/tasks/whatever", headers=headers).status_code == 401


def test_admin_ingest_returns_the_task_and_its_state(api: TestClient) -> None:
    response = api.post("/api/v1/admin/ingest", json={"category": "cs.LG"}, headers=_auth())
    assert response.status_code == 202
    body = response.json()
    assert body["state"] == "SUCCESS"  # eager: done by the time it answers
    assert counts(get_settings()) == (4, 4)
    task = api.get(f"/api/v1/admin/tasks/{body['task_id']}", headers=_auth()).json()
    assert task == {
        "task_id": body["task_id"],
        "state": "SUCCESS",
        "result": {
            "category": "cs.LG",
            "day": FEED_DAY,
            "summary": f"4 entries seen, 4 papers new, 0 papers updated, 4 listings added ({FEED_DAY})",
        },
        "error": None,
    }


def test_admin_ingest_failure_is_the_task_state(api: TestClient, arxiv: LoopbackServer) -> None:
    arxiv.script("/rss/cs.LG", Reply(200, b"<html><title>Oops</title></html>", {"Content-Type": "text/html"}))
    body = api.post(
        "/api/v1/admin/ingest", json={"category": "cs.LG", "date": FEED_DAY}, headers=_auth()
    ).json()
    task = api.get(f"/api/v1/admin/tasks/{body['task_id']}", headers=_auth()).json()
    assert (task["state"], task["result"]) == ("FAILURE", None)
    assert "HTML page" in task["error"]
    assert counts(get_settings()) == (0, 0)


def test_admin_reindex_rebuilds_from_the_embeddings(api: TestClient) -> None:
    assert api.post("/api/v1/admin/reindex").status_code == 401
    api.post("/api/v1/admin/ingest", json={"category": "cs.LG"}, headers=_auth())  # embeds 4 papers
    response = api.post("/api/v1/admin/reindex", headers=_auth())
    assert response.status_code == 202
    body = response.json()
    assert (body["state"], body["result"]["count"]) == ("SUCCESS", 4)
    task = api.get(f"/api/v1/admin/tasks/{body['task_id']}", headers=_auth()).json()
    assert task["result"] == body["result"]


def test_admin_unknown_task_is_pending(api: TestClient) -> None:
    task = api.get("/api/v1/admin/tasks/0b4a6a8e-0000-4000-8000-000000000000", headers=_auth()).json()
    assert task["state"] == "PENDING"


@pytest.mark.parametrize(
    "body",
    [{"category": "cs.LG,cs.AI"}, {"category": "cs.LG-cs.AI"}, {"category": ""}, {"date": "2026-09-24"}],
)
def test_admin_ingest_checks_its_input(api: TestClient, body: dict[str, str]) -> None:
    response = api.post("/api/v1/admin/ingest", json=body, headers=_auth())
    assert response.status_code == 422
    assert response.json()["detail"]
