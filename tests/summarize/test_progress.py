"""Honest FAQ progress (issue 14): while a FAQ is written the reader is told what happens (fetching the
PDF, each retry, question k of n), and once written which model wrote it from what, and why only the
abstract when the PDF was not read. A real loopback model and a real loopback "arXiv" for the PDF."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.config import Settings, get_settings
from app.summarize.prompts import load_prompt
from tests.llm_server import FakeLLMServer
from tests.loopback import LoopbackServer, Reply

PAPER = "2609.26811"
SITE = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def llm() -> Iterator[FakeLLMServer]:
    """A model slow enough (~0.3 s an answer) that each question's phase can be seen."""
    with FakeLLMServer(chunk_words=2, chunk_delay=0.02) as server:
        yield server


@pytest.fixture
def client(configured: Settings) -> Iterator[TestClient]:
    from app.main import create_app

    with TestClient(create_app(), raise_server_exceptions=False, headers=SITE) as test_client:
        yield test_client


def _follow(client: TestClient, timeout: float = 30.0) -> list[dict[str, object]]:
    """Every distinct state the API showed until the summary was done, as a page polling it sees."""
    seen: list[dict[str, object]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/papers/{PAPER}/summary").json()
        state = {key: body[key] for key in ("status", "phase", "answered", "total_questions")}
        if not seen or {k: seen[-1][k] for k in state} != state:
            seen.append(body)
        if body["status"] in ("ready", "failed"):
            return seen
        time.sleep(0.02)
    raise AssertionError(f"the summary did not finish: {seen[-1] if seen else None}")


def test_progress_counts_the_prompts_questions_and_names_the_source(client: TestClient) -> None:
    questions = len(load_prompt("en").questions)
    seen = _follow(client)
    done = seen[-1]
    assert done["status"] == "ready" and done["phase"] is None
    assert (done["answered"], done["total_questions"]) == (questions, questions)
    assert done["model"] == "fake-llm" and done["context"] == "abstract"
    assert done["context_reason"] == "this server is set to read abstracts only"
    phases = [s["phase"] for s in seen if s["status"] == "running"]
    assert f"question 2 of {questions}" in phases and f"question {questions} of {questions}" in phases
    for state in seen:  # while question k is written, k - 1 answers are complete
        phase = str(state["phase"] or "")
        if phase.startswith("question "):
            assert state["answered"] == int(phase.split()[1]) - 1, state
    progress = client.get("/arxiv/progress", params={"paper": PAPER}).json()
    assert (progress["answered"], progress["total"]) == (questions, questions)
    assert progress["context_reason"] == "this server is set to read abstracts only"
    # The inline FAQ (papers.cool's POST /arxiv/kimi) says the same once written.
    html = client.post("/arxiv/kimi", params={"paper": PAPER}).text
    assert (
        "Written by fake-llm from the abstract only, because this server is set to read abstracts only"
        in html
    )


def test_an_unreachable_pdf_shows_each_attempt_then_why_the_abstract(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each attempt takes 0.4 s and fails with 503 (Retry-After: 0, so no backoff to wait out).
    failing = Reply(503, b"busy", {"Retry-After": "0"}, delay=0.4)
    with LoopbackServer({f"/pdf/{PAPER}v1": [failing]}) as arxiv:
        monkeypatch.setenv("SUMMARY_FULL_TEXT", "true")
        monkeypatch.setenv("ARXIV_PDF_URL", f"{arxiv.url}/pdf")
        monkeypatch.setenv("ARXIV_RETRIES", "2")
        get_settings.cache_clear()
        seen = _follow(client)
    assert len(arxiv.requests) == 3
    phases = [s["phase"] for s in seen if s["status"] == "running"]
    fetching = [p for p in phases if str(p).startswith("fetching the PDF")]
    assert fetching == [
        "fetching the PDF",
        "fetching the PDF (attempt 2 of 3)",
        "fetching the PDF (attempt 3 of 3)",
    ], phases
    done = seen[-1]
    assert done["status"] == "ready" and done["context"] == "abstract"
    assert done["context_reason"] == "the PDF could not be fetched"


def test_a_pdf_read_in_full_gives_no_reason(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.summarize.test_summaries import _pdf_with_text

    pdf = _pdf_with_text("The method section explains spectral local learning in detail. " * 20)
    with LoopbackServer({f"/pdf/{PAPER}v1": Reply(200, pdf, {"Content-Type": "application/pdf"})}) as arxiv:
        monkeypatch.setenv("SUMMARY_FULL_TEXT", "true")
        monkeypatch.setenv("ARXIV_PDF_URL", f"{arxiv.url}/pdf")
        get_settings.cache_clear()
        done = _follow(client)[-1]
    assert (done["context"], done["context_reason"]) == ("full text", None)
    html = client.post("/arxiv/kimi", params={"paper": PAPER}).text
    assert "Written by fake-llm from the paper's full text" in html and "because" not in html
