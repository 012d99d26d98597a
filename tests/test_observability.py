"""Health, readiness, Prometheus metrics and request ids, on a real committed database."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.logs import JsonFormatter
from app.observability import RequestIdFilter
from tests.conftest import DATA


@pytest.fixture
def app_client(settings_env: Settings) -> TestClient:
    from app.main import create_app
    from app.store.ingest import ingest_file

    ingest_file(settings_env, path=DATA / "rss" / "atom-2024-csLG.xml", category=None, day=None)
    return TestClient(create_app())


def test_healthz_and_readyz(app_client: TestClient) -> None:
    assert app_client.get("/healthz").text == "ok"
    ready = app_client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["database"] == "ok" and body["ready"] is True
    assert body["index"].startswith("empty")


def test_readyz_fails_without_database(app_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.config import get_settings

    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:9/none")
    get_settings.cache_clear()
    response = app_client.get("/readyz")
    assert response.status_code == 503 and response.json()["database"].startswith("error")


def test_metrics_report_requests_and_shared_counts(app_client: TestClient) -> None:
    app_client.get("/arxiv/cs.LG")
    text = app_client.get("/metrics").text
    assert (
        'coolpapers_http_request_duration_seconds_bucket{le="0.05",method="GET",route="/arxiv/{spec:page_spec}",status="200"}'
        in text
    )
    assert "coolpapers_papers 3.0" in text
    assert 'coolpapers_queue_depth{queue="fetch"} 0.0' in text
    assert "coolpapers_llm_spend 0.0" in text


def test_llm_tokens_count_every_generation_by_the_sites_models(
    app_client: TestClient, settings_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only summaries were counted: answers, TL;DRs, translations and uploads' FAQs spent unseen."""
    import datetime as dt

    from sqlalchemy import select

    from app.config import get_settings
    from app.store.db import session_scope
    from app.store.models import Answer, Paper, Summary, Tldr, Translation, Upload

    monkeypatch.setenv("LLM_PRICE_PROMPT_PER_MTOK", "1")
    monkeypatch.setenv("LLM_PRICE_COMPLETION_PER_MTOK", "2")
    get_settings.cache_clear()
    now = dt.datetime.now(dt.UTC)
    done = {"status": "ready", "created_at": now, "updated_at": now}
    with session_scope(settings_env) as session:
        paper = session.scalars(select(Paper)).first()
        assert paper is not None
        on = {"paper_id": paper.id, "prompt_version": "v"}
        session.add_all([
            Summary(**on, **done, model="m", lang="en", content=[], prompt_tokens=1000, completion_tokens=100),
            Answer(**on, **done, model="m", question_key="k", question="q", prompt_tokens=200, completion_tokens=20),
            Tldr(**on, **done, model="m", prompt_tokens=30, completion_tokens=3),
            Translation(**on, **done, model="m", lang="zh", prompt_tokens=4, completion_tokens=40),
            Upload(id="u" * 32, **done, model="m", prompt_version="v", requester="someone",
                   prompt_tokens=5000, completion_tokens=500),
            Upload(id="o" * 32, **done, model="their-own", prompt_version="v", requester=None,
                   prompt_tokens=7, completion_tokens=7),  # a reader's own model: not this site's spend
        ])  # fmt: skip
    text = app_client.get("/metrics").text
    assert 'coolpapers_llm_tokens{kind="prompt",model="m"} 6234.0' in text
    assert 'coolpapers_llm_tokens{kind="completion",model="m"} 663.0' in text
    assert "their-own" not in text
    assert "coolpapers_llm_spend 0.00756" in text  # (6,234 x 1 + 663 x 2) / 1e6


def test_request_id_in_header_and_logs(app_client: TestClient) -> None:
    given = app_client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = app_client.get("/healthz", headers={"X-Request-ID": "<script>"})
    assert made.headers["x-request-id"] != "<script>" and len(made.headers["x-request-id"]) == 32
    name, _, duration = made.headers["server-timing"].partition(";dur=")
    assert name == "app" and float(duration) >= 0
    record = logging.LogRecord("t", logging.WARNING, __file__, 1, "hello %s", ("world",), None)
    RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "hello world" and "request_id" in line and line["level"] == "warning"


TOKEN = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd"  # the shape of a profile's token


def test_unhandled_error_is_logged_once_with_its_request_id(
    settings_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under a real uvicorn: the app's 500 handler logs the error with the request's id, and uvicorn
    (which sees the exception raised again after the answer) does not log the traceback a second time."""
    import threading

    import httpx
    import uvicorn

    from app.main import create_app
    from tests.workers.conftest import free_port, wait_for

    app = create_app()

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    @app.get("/api/v1/profiles/{token}/boom")
    def profile_boom(token: str) -> None:
        raise RuntimeError("a bug under a profile")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="info"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout=20, what="uvicorn")
        answer = httpx.get(f"http://127.0.0.1:{port}/boom", headers={"X-Request-ID": "req-42"}, timeout=10)
        for path in (f"/api/v1/profiles/{TOKEN}/boom", f"/api/v1/profiles/{TOKEN}"):  # a 500, a 404
            httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert answer.status_code == 500 and "internal error" in answer.text
    assert answer.headers["x-request-id"] == "req-42"
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    logged = [line for line in lines if line["msg"] == "unhandled error"]
    assert [(line["request_id"], line["path"]) for line in logged[:1]] == [("req-42", "/boom")], err
    assert "RuntimeError: a bug" in logged[0]["exc"]
    assert "Exception in ASGI application" not in err and err.count('RuntimeError: a bug"') == 1, err
    # A profile's token (its only key) is in no log line: neither the app's nor uvicorn's access log.
    assert logged[1]["path"] == "/api/v1/profiles/<token>/boom"
    assert "/api/v1/profiles/<token> HTTP/1.1" in out + err
    assert TOKEN not in out + err
