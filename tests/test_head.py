"""HEAD is answered as GET without the body on every page and API route that answers GET."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.arxiv.parse import parse_feed
from app.main import app
from app.store.ingest import ingest_feed
from tests.conftest import DATA

RSS2 = DATA / "rss" / "rss2-2024-multicat-csLG+csAI+csCL+statML.xml"
# What a path parameter is filled with: names of this app's routes, values that exist in RSS2's day.
SAMPLES = {"spec": "cs.LG", "arxiv_id": "2609.26811", "category": "cs.LG", "paper_id": "2609.26811"}
VARYING = {"date", "server-timing", "x-request-id"}  # headers that differ between any two responses


@pytest.fixture
def loaded(session: Session) -> Session:
    ingest_feed(session, feed=parse_feed(RSS2.read_bytes()))
    return session


def get_paths(application: FastAPI) -> Iterator[str]:
    """Every GET route's path, routers included (FastAPI keeps those behind their include context)."""
    for route in application.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        for entry in contexts() if callable(contexts) else [route]:
            if "GET" in (getattr(entry, "methods", None) or ()):
                yield str(getattr(entry, "path", ""))


def fill(path: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: SAMPLES.get(m.group(1), "x"), path)


def test_every_get_route_is_walked() -> None:
    paths = set(get_paths(app))
    assert {"/", "/arxiv/{spec:page_spec}", "/api/v1/categories", "/healthz", "/metrics"} <= paths
    assert len(paths) > 25


def test_head_answers_every_get_route_like_get_without_a_body(client: TestClient, loaded: Session) -> None:
    checked = []
    for path in sorted(set(get_paths(app))):
        url = fill(path)
        got = client.get(url)
        head = client.head(url)
        assert head.status_code != 405, url
        assert head.status_code == got.status_code, url
        assert head.content == b"", url
        assert head.headers.get("content-type") == got.headers.get("content-type"), url
        if "content-length" in got.headers and got.status_code == 200 and path != "/metrics":
            assert head.headers["content-length"] == got.headers["content-length"], url
        checked.append((url, head.status_code))
    assert ("/arxiv/cs.LG", 200) in checked and ("/api/v1/categories", 200) in checked


def test_head_of_a_page_keeps_its_validators(client: TestClient, loaded: Session) -> None:
    got = client.get("/arxiv/cs.LG?date=2026-09-24", headers={"Accept-Encoding": "gzip"})
    head = client.head("/arxiv/cs.LG?date=2026-09-24", headers={"Accept-Encoding": "gzip"})
    assert head.status_code == 200 and head.content == b""
    same = {k: v for k, v in got.headers.items() if k not in VARYING}
    assert {k: v for k, v in head.headers.items() if k not in VARYING} == same
    assert head.headers["etag"] and head.headers["content-length"] == got.headers["content-length"]
    unchanged = client.head("/arxiv/cs.LG?date=2026-09-24", headers={"If-None-Match": got.headers["etag"]})
    assert unchanged.status_code == 304


def test_head_does_not_open_post_only_routes(client: TestClient, loaded: Session) -> None:
    assert client.get("/api/v1/counters").status_code == 405  # POST only: HEAD is GET here too
    refused = client.head("/api/v1/counters")
    assert refused.status_code == 405 and "POST" in refused.headers["allow"]
    assert client.head("/api/v1/nothing-here").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/api/v1/profiles/abc", "GET, HEAD, PUT, DELETE"),  # three routes on one path: was "GET"
        ("PATCH", "/api/v1/papers/2609.26811/summary", "GET, HEAD, POST"),
        ("GET", "/api/v1/counters", "POST"),
        # The catch-all GET /venue/{spec} matched these too: they said "GET, HEAD, POST".
        ("GET", "/venue/kimi", "POST"),
        ("HEAD", "/venue/kimi", "POST"),
        ("PUT", "/venue/kimi", "POST"),
        ("DELETE", "/venue/star", "POST"),
        ("GET", "/venue/star", "POST"),
        ("GET", "/arxiv/kimi", "POST"),  # the catch-all /arxiv/{spec} answered 422 "no category 'kimi'"
        ("GET", "/arxiv/star", "POST"),
        ("PUT", "/arxiv/star", "POST"),
    ],
)
def test_405_names_every_method_of_the_path(client: TestClient, method: str, path: str, allow: str) -> None:
    refused = client.request(method, path)
    assert refused.status_code == 405 and refused.headers["allow"] == allow
