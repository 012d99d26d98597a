"""A service behind the app being away is a 503 with Retry-After, never a 500 (issue: outages)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import get_settings


@pytest.fixture
def away_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    # A database that cannot be opened: the same OperationalError a stopped PostgreSQL gives.
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    from app.main import app

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    get_settings.cache_clear()


@pytest.mark.parametrize("path", ["/", "/arxiv/cs.LG", "/status", "/api/v1/categories", "/api/v1/status"])
def test_database_outage_answers_503_with_retry_after(away_database: TestClient, path: str) -> None:
    response = away_database.get(path)
    assert response.status_code == 503, response.text[:300]
    assert response.headers["retry-after"] == "5"
    assert "back in a moment" in response.text


def test_queue_outage_answers_503(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from celery import Celery

    from app import jobs as jobs_module
    from workers.celery_app import CeleryJobs, celery_config

    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9/0")  # the discard port: nothing listens
    monkeypatch.setenv("ADMIN_TOKEN", "a-real-admin-token-for-tests")
    get_settings.cache_clear()
    # A Celery app as a web process configures it when Redis is set (the suite's own app is eager).
    away = Celery("away")
    away.conf.update(celery_config())
    kept = list(jobs_module._installed)
    jobs_module.install_jobs(CeleryJobs(away))
    try:
        from app.main import app

        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.post(
                "/api/v1/admin/ingest",
                json={"category": "cs.LG"},
                headers={"Authorization": "Bearer a-real-admin-token-for-tests"},
            )
    finally:
        jobs_module._installed[:] = kept
        get_settings.cache_clear()
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert response.json() == {"detail": "the task queue is not answering; try again in a moment"}
