"""Fixtures of the summary tests: a loopback OpenAI-compatible server and settings pointing at it,
over a committed database holding the recorded multi-category feed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.arxiv.parse import parse_feed
from app.config import Settings, get_settings
from app.store.db import session_scope
from app.store.ingest import ingest_feed
from tests.conftest import DATA
from tests.llm_server import FakeLLMServer

RSS2 = DATA / "rss" / "rss2-2024-multicat-csLG+csAI+csCL+statML.xml"


@pytest.fixture
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(chunk_words=3) as server:
        yield server


@pytest.fixture
def configured(settings_env: Settings, llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("LLM_BASE_URL", llm.base_url)
    monkeypatch.setenv("LLM_MODEL", "fake-llm")
    monkeypatch.setenv("SUMMARY_FULL_TEXT", "false")
    monkeypatch.setenv("LLM_RETRIES", "0")
    # The tests poll and reopen: the per-minute limits have tests of their own.
    monkeypatch.setenv("RATE_SUMMARY_PER_MINUTE", "100000")
    monkeypatch.setenv("RATE_STAR_PER_MINUTE", "100000")
    get_settings.cache_clear()
    settings = get_settings()
    with session_scope(settings) as session:
        ingest_feed(session, feed=parse_feed(RSS2.read_bytes()))
    return settings
