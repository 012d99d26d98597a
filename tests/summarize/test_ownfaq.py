"""A paper's FAQ from a reader's own model, end to end: two loopback OpenAI-compatible servers (the
site's model and the reader's), a committed database, the real app over TestClient, the FAQ read as
the server-sent events the page renders."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.config import Settings, get_settings
from app.store.db import session_scope
from app.store.models import DailyCount, Paper, Summary
from app.summarize.generate import paper_text
from app.summarize.live import Live
from app.summarize.ownfaq import generate_own_faq
from app.summarize.ownkey import ReaderLLM
from app.summarize.service import FaqView, prompt_for
from tests.llm_server import FakeLLMServer

PAPER = "2609.26811"
SITE = {"Sec-Fetch-Site": "same-origin"}
SECRET = "sk-reader-faq-secret-0123456789"
URL = f"/api/v1/papers/{PAPER}/summary?stream=true"
HOSTILE = (
    '<script>alert("x")</script> [click](javascript:alert(1)) <img src=x onerror=alert(2)> '
    "<iframe src=//evil></iframe> **bold**"
)


@pytest.fixture
def own_llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(api_key=SECRET, chunk_words=2, model="reader-model") as server:
        yield server


@pytest.fixture
def client(configured: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    from app.main import create_app

    monkeypatch.setenv("OWN_KEY_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("SUMMARY_DAILY_LIMIT", "0")  # the shared budget is spent: own keys do not use it
    get_settings.cache_clear()
    with TestClient(create_app(), raise_server_exceptions=False, headers=SITE) as test_client:
        yield test_client


def own_headers(server: FakeLLMServer, key: str = SECRET) -> dict[str, str]:
    return {"X-LLM-Base-URL": server.base_url, "X-LLM-Key": key, "X-LLM-Model": "reader-model"}


def faq_events(client: TestClient, method: str = "POST", **headers: str) -> list[dict[str, object]]:
    """The `summary` events of one FAQ stream (asserting it opened and ended done)."""
    with client.stream(method, URL, headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]
    assert events and events[-1]["status"] in ("ready", "failed")
    return events


def count(settings: Settings, model: type[Summary] | type[DailyCount]) -> int:
    with session_scope(settings) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def database_bytes(settings: Settings) -> bytes:
    path = Path(settings.sqlalchemy_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_a_readers_own_model_writes_the_faq_for_them_alone_and_nothing_is_stored(
    client: TestClient, llm: FakeLLMServer, own_llm: FakeLLMServer, configured: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    own_llm.chunk_delay = 0.01
    questions = prompt_for(configured, "en").questions
    events = faq_events(client, **own_headers(own_llm))
    last = events[-1]
    assert last["status"] == "ready" and last["own_model"] is True and last["model"] == "reader-model"
    assert len(last["answers"]) == len(questions) == last["answered"]  # type: ignore[arg-type]
    assert all(str(a["answer"]).startswith("Answer to:") for a in last["answers"])  # type: ignore[attr-defined]
    assert last["context"] == "abstract" and last["prompt_version"] == prompt_for(configured, "en").version
    running = [e for e in events if e["status"] == "running"]
    assert running and running[0]["own_model"] is True  # streamed, as the shared FAQ is
    assert any(str(e["phase"]).startswith("question ") for e in running)
    # The same prompt, in one conversation, sent to the reader's model with their key only.
    assert len(own_llm.chat_requests) == len(questions)
    assert all(r.headers["authorization"] == f"Bearer {SECRET}" for r in own_llm.chat_requests)
    assert own_llm.chat_requests[-1].messages[0]["role"] == "system"
    assert llm.chat_requests == []  # the site's model heard nothing
    assert count(configured, Summary) == 0 and count(configured, DailyCount) == 0
    assert SECRET.encode() not in database_bytes(configured) and SECRET not in caplog.text
    # Without the key the shared daily limit (spent: 0) applies, and still nothing is generated.
    shared = client.post(URL)
    assert shared.status_code == 429 and llm.chat_requests == []


def test_a_written_shared_faq_is_shown_and_nothing_is_generated(
    configured: Settings, llm: FakeLLMServer, own_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.main import create_app

    monkeypatch.setenv("OWN_KEY_ALLOW_LOOPBACK", "true")
    get_settings.cache_clear()
    with TestClient(create_app(), raise_server_exceptions=False, headers=SITE) as client:
        shared = faq_events(client)  # the shared FAQ, written by the site's model
        assert shared[-1]["status"] == "ready" and shared[-1]["own_model"] is False
        events = faq_events(client, **own_headers(own_llm))
    assert len(events) == 1 and events[0]["status"] == "ready" and events[0]["model"] == "fake-llm"
    assert events[0]["own_model"] is False and events[0]["answers"] == shared[-1]["answers"]
    assert own_llm.chat_requests == [] and count(configured, Summary) == 1


def test_hostile_output_of_a_readers_model_is_rendered_inert(
    client: TestClient, own_llm: FakeLLMServer
) -> None:
    own_llm.answer = lambda messages: HOSTILE
    events = faq_events(client, **own_headers(own_llm))
    assert events[-1]["status"] == "ready"
    for event in events:  # as the browser would parse it: no element or attribute that runs anything
        for answer in event["answers"]:  # type: ignore[attr-defined]
            soup = BeautifulSoup(str(answer["html"]), "html.parser")
            assert not soup.find_all(["script", "img", "iframe"])
            assert not soup.find_all(href=lambda href: href and "javascript" in href.lower())
            assert not [a for tag in soup.find_all(True) for a in tag.attrs if a.lower().startswith("on")]
    html = str(events[-1]["answers"][0]["html"])  # type: ignore[index]
    assert "&lt;script&gt;" in html and "<strong>bold</strong>" in html


def test_a_wrong_key_fails_with_a_reason_that_never_carries_it(
    client: TestClient, llm: FakeLLMServer, own_llm: FakeLLMServer, configured: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    wrong = "sk-wrong-faq-key-9876543210"
    last = faq_events(client, **own_headers(own_llm, key=wrong))[-1]
    assert last["status"] == "failed" and "your model refused the key" in str(last["error"])
    assert wrong not in json.dumps(last) and wrong not in caplog.text
    assert wrong.encode() not in database_bytes(configured) and count(configured, Summary) == 0
    assert llm.chat_requests == []


def test_bounds_hold_for_a_readers_model(
    client: TestClient, own_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLM_MAX_TOKENS", "16")
    get_settings.cache_clear()
    own_llm.answer = lambda messages: "word " * 200
    last = faq_events(client, **own_headers(own_llm))[-1]
    assert last["status"] == "failed" and "16 tokens allowed" in str(last["error"])
    assert len(own_llm.chat_requests) == 1  # stopped at the first answer past the cap


def test_refusals_cross_site_unstreamed_private_and_over_the_rate(
    client: TestClient, own_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = own_headers(own_llm)
    cross = client.post(URL, headers=headers | {"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    plain = client.post(URL.removesuffix("?stream=true"), headers=headers)
    assert plain.status_code == 422 and "stream=true" in plain.json()["detail"]
    private = client.post(URL, headers=headers | {"X-LLM-Base-URL": "https://10.1.2.3/v1"})
    assert private.status_code == 422 and "private address" in private.json()["detail"]
    assert SECRET not in private.text
    missing = client.post("/api/v1/papers/2609.99999/summary?stream=true", headers=headers)
    assert missing.status_code == 404
    monkeypatch.setenv("RATE_SUMMARY_PER_MINUTE", "1")
    get_settings.cache_clear()
    client.post(URL, headers=headers | {"X-LLM-Model": ""})  # spends the minute's one request (422)
    assert client.post(URL, headers=headers).status_code == 429
    assert own_llm.chat_requests == []


def test_the_generation_stops_once_its_reader_is_gone(configured: Settings, own_llm: FakeLLMServer) -> None:
    from app.config import Settings as Fresh

    settings = Fresh(**configured.model_dump() | {"own_key_allow_loopback": True})
    own_llm.chunk_delay = 0.05
    prompt = prompt_for(settings, "en")
    live = Live(FaqView("running", [], prompt.questions, "reader-model", prompt.version, "en"))

    async def read_one_then_leave() -> None:
        stream = live.follow()
        await anext(stream)
        await stream.aclose()  # the reader closed the tab

    asyncio.run(read_one_then_leave())
    assert live.abandoned
    with session_scope(settings) as session:
        text = paper_text(session.scalars(select(Paper).where(Paper.arxiv_id == PAPER)).one())
    reader = ReaderLLM(base_url=own_llm.base_url, model="reader-model", key=SECRET)
    assert generate_own_faq(settings, prompt, text, reader, live) == "abandoned"
    assert len(own_llm.chat_requests) <= 1 < len(prompt.questions)


def test_a_server_without_a_model_gets_a_readers_faq_from_their_model(
    client: TestClient, own_llm: FakeLLMServer, configured: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLM_BASE_URL")
    get_settings.cache_clear()
    shared = client.get(URL.removesuffix("?stream=true")).json()
    assert shared["extractive"] is True  # without the key: the labelled extractive digest
    last = faq_events(client, **own_headers(own_llm))[-1]
    assert last["status"] == "ready" and last["own_model"] is True and last["extractive"] is False
    assert own_llm.chat_requests and count(configured, Summary) == 0


def test_the_kimi_url_takes_a_readers_own_model_too(
    client: TestClient, llm: FakeLLMServer, own_llm: FakeLLMServer, configured: Settings
) -> None:
    """papers.cool's FAQ URL (what its tools post to) with X-LLM-* headers: the reader's model writes
    the FAQ as HTML fragments, inert however hostile, and nothing is stored or sent to the site's model."""
    own_llm.answer = lambda messages: HOSTILE
    questions = prompt_for(configured, "en").questions
    response = client.post("/arxiv/kimi", params={"paper": PAPER}, headers=own_headers(own_llm))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    faq = BeautifulSoup(response.text, "html.parser").select_one(f"div.faq[id='faq-{PAPER}']")
    assert faq is not None and len(faq.select("div.faq-item")) == len(questions)
    assert faq.select("script, img, iframe") == [] and faq.select_one("strong").text == "bold"  # type: ignore[union-attr]
    assert len(own_llm.chat_requests) == len(questions) and llm.chat_requests == []
    assert count(configured, Summary) == 0  # (the open is counted, as any FAQ opened here is)
    assert SECRET.encode() not in database_bytes(configured)
    private = {**own_headers(own_llm), "X-LLM-Base-URL": "https://10.1.2.3/v1"}
    assert client.post("/arxiv/kimi", params={"paper": PAPER}, headers=private).status_code == 422
