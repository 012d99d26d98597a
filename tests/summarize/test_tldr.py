"""TL;DRs end to end: a real loopback OpenAI-compatible server, a committed database, the in-process
generator (no Redis), the day's top papers after ingest, the API, listings, feeds and the cleaning
of whatever the model sends."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.config import Settings, get_settings
from app.store.db import session_scope
from app.store.listings import CategoryQuery, latest_day
from app.store.models import Paper, Tldr, Translation
from app.summarize.generations import release_lost
from app.summarize.prompts import TLDR_VERSION
from app.summarize.service import SUMMARY_ATTEMPTS
from app.summarize.tldr import MAX_CHARS, clean_tldr, generate_tldr, write_day_tldrs
from tests.llm_server import FakeLLMServer
from tests.loopback import LoopbackServer
from tests.workers.conftest import arxiv, fake_embedder  # noqa: F401 - fixtures of the ingest test

PAPER = "2609.26811"
CATEGORY = "cs.LG"
SITE = {"Sec-Fetch-Site": "same-origin"}
SENTENCE = "The paper trains sparse transformers faster with a new routing loss and matches dense quality."


@pytest.fixture
def client(configured: Settings) -> Iterator[TestClient]:
    from app.main import create_app

    with TestClient(create_app(), raise_server_exceptions=False, headers=SITE) as test_client:
        yield test_client


def wait_tldr(client: TestClient, paper: str = PAPER, timeout: float = 10.0) -> tuple[int, dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/api/v1/papers/{paper}/tldr")
        if response.status_code in (200, 503):
            return response.status_code, response.json()
        assert response.status_code == 202 and response.headers["Retry-After"] == "1"
        time.sleep(0.05)
    raise AssertionError("the TL;DR was not written")


def wait_all_ready(settings: Settings, count: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope(settings) as session:
            states = list(session.scalars(select(Tldr.status)))
        if states == ["ready"] * count:
            return True
        time.sleep(0.05)
    return False


def listing_tldrs(client: TestClient) -> dict[str, str]:
    soup = BeautifulSoup(client.get(f"/arxiv/{CATEGORY}").text, "html.parser")
    return {str(p["id"]).removeprefix("tldr-"): p.get_text() for p in soup.select("p.tldr")}


def test_tldr_written_on_demand_and_shown_everywhere(client: TestClient, llm: FakeLLMServer) -> None:
    assert listing_tldrs(client) == {}  # none yet: no line at all
    assert client.get(f"/api/v1/papers/{PAPER}").json()["tldr"] is None
    llm.enqueue(f"TL;DR: {SENTENCE}\nIt also does a second thing. And a third.")
    status, body = wait_tldr(client)
    assert status == 200 and body["tldr"] == SENTENCE and body["prompt_version"] == TLDR_VERSION
    [chat] = llm.chat_requests
    assert "untrusted" in chat.messages[0]["content"] and "<paper>" in chat.messages[1]["content"]
    assert chat.body is not None and chat.body["stream"] is False
    # The listing cached before the TL;DR was written is rendered again (the paper's revision moved).
    assert listing_tldrs(client) == {PAPER: f"TL;DR: {SENTENCE}"}
    assert client.get(f"/api/v1/papers/{PAPER}").json()["tldr"] == SENTENCE
    items = client.get(f"/api/v1/listings/{CATEGORY}").json()["items"]
    assert {i["arxiv_id"]: i["tldr"] for i in items if i["tldr"]} == {PAPER: SENTENCE}
    assert all("tldr" in item for item in items)
    feed = client.get(f"/arxiv/{CATEGORY}/feed").text
    assert f"TL;DR: {SENTENCE}" in feed
    assert client.get(f"/api/v1/papers/{PAPER}/tldr").status_code == 200
    assert len(llm.chat_requests) == 1  # written once, then read
    with session_scope(get_settings()) as session:  # what it spent, for /metrics
        row = session.scalars(select(Tldr)).one()
        assert row.prompt_tokens > 50 and row.completion_tokens > 0


def test_without_a_model_nothing_is_invented(
    client: TestClient, llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLM_BASE_URL")
    monkeypatch.setenv("TLDR_TOP", "5")
    get_settings.cache_clear()
    response = client.get(f"/api/v1/papers/{PAPER}/tldr")
    assert response.status_code == 404 and "no language model" in response.json()["detail"]
    with session_scope(get_settings()) as session:
        day = latest_day(session, CategoryQuery((CATEGORY,)))
    assert day is not None
    assert write_day_tldrs(get_settings(), category=CATEGORY, day=day) == 0
    assert listing_tldrs(client) == {} and "TL;DR" not in client.get(f"/arxiv/{CATEGORY}/feed").text
    assert client.get(f"/api/v1/papers/{PAPER}").json()["tldr"] is None
    assert llm.chat_requests == []


HOSTILE = [
    '<script>alert("x")</script><img src=x onerror=alert(1)> A <b>bold</b> claim about models',
    "First line\n\nsecond line <iframe src=//evil>",
    "word " * 5000,
    "\u202eevil\x00 bidi \x1b[31m override.",
]


@pytest.mark.parametrize("answer", HOSTILE)
def test_hostile_model_output_is_stored_bounded_and_rendered_inert(
    client: TestClient, llm: FakeLLMServer, answer: str
) -> None:
    llm.enqueue(answer)
    status, body = wait_tldr(client)
    assert status == 200
    text = str(body["tldr"])
    assert len(text) <= MAX_CHARS and "\n" not in text and "\x00" not in text and "\u202e" not in text
    html = client.get(f"/arxiv/{CATEGORY}").text
    soup = BeautifulSoup(html, "html.parser")
    line = soup.find("p", id=f"tldr-{PAPER}")
    assert line is not None and line.get_text() == f"TL;DR: {text}"
    assert [child.name for child in line.find_all(True)] == ["strong"]  # no markup of the model's
    assert "<script>alert" not in html and "<iframe src=//evil>" not in html
    feed = client.get(f"/arxiv/{CATEGORY}/feed").text
    assert "<script>" not in feed and "<iframe" not in feed


def test_a_reasoning_models_thinking_is_never_the_tldr(client: TestClient, llm: FakeLLMServer) -> None:
    llm.enqueue("<think>\nOkay, the user wants a TL;DR.\n</think>\nThe paper trains each layer alone.")
    status, body = wait_tldr(client)
    assert status == 200 and body["tldr"] == "The paper trains each layer alone."


def test_clean_tldr_keeps_one_sentence() -> None:
    assert clean_tldr("  **TL;DR:** It works, e.g. on graphs.  Second one.") == "It works, e.g. on graphs."
    assert clean_tldr("本文提出了一种新方法。第二句。") == "本文提出了一种新方法。"
    assert clean_tldr(" \n\t ") is None
    # A chatty model's preamble is not the TL;DR ("Sure!" was stored as one).
    said = "Sure! Here is a one-sentence TL;DR:\n\nThe paper proposes X. It also does Y."
    assert clean_tldr(said) == "The paper proposes X."
    assert clean_tldr("Okay, here's the summary: A is B.") == "A is B."
    assert clean_tldr("Here, the authors propose a method.") == "Here, the authors propose a method."
    long = clean_tldr("x" * 1000)
    assert long is not None and len(long) == MAX_CHARS and long.endswith("…")


def test_the_days_top_papers_get_tldrs_within_the_daily_limit(
    configured: Settings, llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TLDR_TOP", "4")
    monkeypatch.setenv("SUMMARY_DAILY_LIMIT", "1")  # the day has two new papers
    get_settings.cache_clear()
    settings = get_settings()
    with session_scope(settings) as session:
        day = latest_day(session, CategoryQuery((CATEGORY,)))
    assert isinstance(day, dt.date)
    assert write_day_tldrs(settings, category=CATEGORY, day=day) == 1  # the budget holds
    assert wait_all_ready(settings, 1) and llm.generations == 1
    # Run again (a second ingest of the day): the written ones are left alone, the budget is spent.
    assert write_day_tldrs(settings, category=CATEGORY, day=day) == 0
    assert llm.generations == 1
    monkeypatch.setenv("SUMMARY_DAILY_LIMIT", "100")
    get_settings.cache_clear()
    assert write_day_tldrs(get_settings(), category=CATEGORY, day=day) == 1  # only the one without
    assert wait_all_ready(settings, 2) and llm.generations == 2
    with session_scope(settings) as session:
        revisions = session.scalars(select(Paper.revision).join(Tldr, Tldr.paper_id == Paper.id)).all()
    assert revisions == [1, 1]  # the listings' stamps moved with each written TL;DR


def test_the_days_tldrs_are_a_summarize_task(
    configured: Settings, llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.jobs import jobs
    from app.summarize.tldr import TLDR_DAY_TASK

    monkeypatch.setenv("TLDR_TOP", "2")
    get_settings.cache_clear()
    with session_scope(get_settings()) as session:
        day = latest_day(session, CategoryQuery((CATEGORY,)))
    assert day is not None
    state = jobs().send(TLDR_DAY_TASK, CATEGORY, day.isoformat())
    assert (state.state, state.result) == ("SUCCESS", 2)
    assert wait_all_ready(get_settings(), 2)


def test_an_ingest_writes_the_days_tldrs(
    arxiv: LoopbackServer,  # noqa: F811 - the fixture imported above
    llm: FakeLLMServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workers.tasks import fetch_category

    for name, value in {"LLM_BASE_URL": llm.base_url, "LLM_MODEL": "fake-llm", "LLM_RETRIES": "0",
                        "SUMMARY_FULL_TEXT": "false", "TLDR_TOP": "2"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    assert fetch_category.delay(CATEGORY).state == "SUCCESS"
    assert wait_all_ready(get_settings(), 2)  # the first two new papers of the day, no more
    assert llm.generations == 2


def _rows(
    settings: Settings, model: type[Tldr] | type[Translation], *states: tuple[str, int, int]
) -> list[int]:
    """One row of one paper per (status, minutes since it was claimed or touched, attempts); the first
    of the current prompt, the others of made-up versions (one row per paper and version)."""
    now = dt.datetime.now(dt.UTC)
    with session_scope(settings) as session:
        paper_id = session.scalar(select(Paper.id).where(Paper.arxiv_id == PAPER))
        rows = []
        for n, (status, minutes, attempts) in enumerate(states):
            at = now - dt.timedelta(minutes=minutes)
            extra = {"lang": "zh"} if model is Translation else {}
            version = TLDR_VERSION if n == 0 else f"{TLDR_VERSION}-test{n}"
            row = model(paper_id=paper_id, model="fake-llm", prompt_version=version, status=status,
                        attempts=attempts, requester="r", claimed_at=at if status == "running" else None,
                        created_at=at, updated_at=at, **extra)  # fmt: skip
            session.add(row)
            session.flush()
            rows.append(row.id)
        return rows


@pytest.mark.parametrize("model", [Tldr, Translation], ids=["tldr", "translation"])
def test_the_catch_up_sends_again_what_a_killed_worker_left_and_fails_what_lost_too_many(
    configured: Settings, model: type[Tldr] | type[Translation]
) -> None:
    """A row claimed past TASK_TIME_LIMIT lost its worker: pending again and sent (or failed, with a
    reason, after SUMMARY_ATTEMPTS); a pending row as old lost its message, unless the queue is busy;
    fresh, written and failed rows are left alone. A row taken back is sent by one round only."""
    hours = configured.task_time_limit // 60 + 5  # minutes past the task time limit
    lost, tried_often, fresh, waiting, young, ready = _rows(
        configured, model,
        ("running", hours, 1), ("running", hours, SUMMARY_ATTEMPTS), ("running", 1, 1),
        ("pending", hours, 0), ("pending", 1, 0), ("ready", hours, 1),
    )  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    with session_scope(configured) as session:
        assert release_lost(session, configured, model, now=now, queue_busy=True) == ([lost], [tried_often])
    with session_scope(configured) as session:
        assert release_lost(session, configured, model, now=now, queue_busy=False) == ([waiting], [])
        states = {row.id: (row.status, row.error) for row in session.scalars(select(model))}
    assert states[lost] == ("pending", None) and states[fresh][0] == "running"
    assert states[tried_often][0] == "failed" and "interrupted" in (states[tried_often][1] or "")
    assert (states[young][0], states[ready][0]) == ("pending", "ready")
    if model is Tldr:  # sent again, it is written as any other
        assert generate_tldr(configured, lost) == "ready"
