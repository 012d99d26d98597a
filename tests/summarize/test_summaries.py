"""FAQ summaries end to end: a real loopback OpenAI-compatible server, a committed database, the
in-process generator (no Redis), and the HTTP routes readers and tools call."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.config import Settings, get_settings
from app.store.db import session_scope
from app.store.models import Summary
from app.summarize import service
from tests.llm_server import FakeLLMServer, Fault
from tests.loopback import LoopbackServer, Reply

PAPER = "2609.26811"
OTHER = "2609.26820"
QUESTIONS = 7  # faq-v2: the six of papers.cool and "is the code released, and where?"
SITE = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def client(configured: Settings) -> Iterator[TestClient]:
    from app.main import create_app

    # As the site's own pages ask: a GET from anywhere else reads the FAQ but starts no generation.
    with TestClient(create_app(), raise_server_exceptions=False, headers=SITE) as test_client:
        yield test_client


def wait_ready(client: TestClient, paper: str = PAPER, timeout: float = 10.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/api/v1/papers/{paper}/summary")
        body = response.json()
        if (response.status_code, body.get("status")) in ((200, "ready"), (503, "failed")):
            return body  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError("the summary did not finish")


def test_summary_generated_once_in_order_then_cached(client: TestClient, llm: FakeLLMServer) -> None:
    first = client.get(f"/api/v1/papers/{PAPER}/summary")
    assert first.status_code == 202
    assert first.json()["status"] in ("pending", "running")
    body = wait_ready(client)
    assert body["status"] == "ready" and body["context"] == "abstract"
    answers = body["answers"]
    assert [a["question"] for a in answers] == body["questions"] and len(answers) == QUESTIONS
    # One conversation: each call carries the previous answers, the last asks the last question.
    chats = llm.chat_requests
    assert len(chats) == QUESTIONS
    assert [m["role"] for m in chats[-1].messages][:3] == ["system", "user", "assistant"]
    assert chats[-1].messages[-1]["content"] == body["questions"][-1]
    assert "untrusted" in chats[0].messages[0]["content"]
    assert "<paper>" in chats[0].messages[1]["content"]
    assert answers[1]["answer"].startswith("Answer to: What related work")
    again = client.get(f"/api/v1/papers/{PAPER}/summary")
    assert again.status_code == 200 and again.json()["answers"] == answers
    assert len(llm.chat_requests) == QUESTIONS  # served from the cache


def test_concurrent_requests_trigger_one_generation(client: TestClient, llm: FakeLLMServer) -> None:
    statuses: list[int] = []

    def ask() -> None:
        statuses.append(client.get(f"/api/v1/papers/{PAPER}/summary").status_code)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(statuses) <= {200, 202}
    wait_ready(client)
    assert llm.generations == QUESTIONS
    with session_scope(get_settings()) as session:
        assert len(session.scalars(select(Summary)).all()) == 1


def test_stream_sends_answers_as_written(configured: Settings, llm: FakeLLMServer) -> None:
    from app.main import create_app

    llm.chunk_delay = 0.01
    with (
        TestClient(create_app(), headers=SITE) as client,
        client.stream("GET", f"/api/v1/papers/{PAPER}/summary?stream=true") as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    import json

    views = [json.loads(line[6:]) for line in events]
    assert views[-1]["status"] == "ready" and len(views[-1]["answers"]) == QUESTIONS
    counts = [len(v["answers"]) for v in views]
    assert counts == sorted(counts) and len(views) > 3  # it grew in steps, not all at once


def test_reader_leaving_mid_stream_still_gets_a_complete_summary(
    client: TestClient, llm: FakeLLMServer
) -> None:
    llm.chunk_delay = 0.02
    with client.stream("GET", f"/api/v1/papers/{PAPER}/summary?stream=true") as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                break  # the reader closes the tab after the first event
    body = wait_ready(client)
    assert body["status"] == "ready" and len(body["answers"]) == QUESTIONS
    assert all(a["answer"] for a in body["answers"])


def test_kimi_url_returns_the_faq_as_html_fragments(client: TestClient) -> None:
    response = client.post("/arxiv/kimi", params={"paper": PAPER})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    soup = BeautifulSoup(response.text, "html.parser")
    faq = soup.select_one(f"div.faq[id='faq-{PAPER}']")
    assert faq is not None
    assert len(faq.select("div.faq-item")) == QUESTIONS
    assert faq.select_one("h3.faq-q").text == "What problem does this paper try to solve?"
    progress = client.get("/arxiv/progress", params={"paper": PAPER}).json()
    assert (progress["status"], progress["answered"], progress["total"]) == ("ready", QUESTIONS, QUESTIONS)
    [counts] = client.post("/api/v1/counters", json={"papers": [PAPER]}).json()["items"]
    assert counts["kimi"] == 1  # the open was counted (pages read the counts from this JSON)


def test_failure_is_stored_and_regenerated_later(
    client: TestClient, llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm.enqueue(Fault.auth())
    body = wait_ready(client)
    assert body["status"] == "failed" and body["error"]
    assert body["answers"] == []  # never shown as if it were a summary
    again = client.get(f"/api/v1/papers/{PAPER}/summary")
    assert again.status_code == 503 and int(again.headers["retry-after"]) > 0
    assert again.json()["status"] == "failed"
    assert len(llm.chat_requests) == 1  # no new generation during the cool-down
    monkeypatch.setattr(service, "FAILED_RETRY_AFTER", 0)
    assert client.get(f"/api/v1/papers/{PAPER}/summary").status_code == 202
    assert wait_ready(client)["status"] == "ready"


@pytest.mark.parametrize(
    "fault", [Fault.content_filter(), Fault.malformed(), Fault.status(500), Fault.status(429, retry_after=0)]
)
def test_model_errors_become_failed_summaries(client: TestClient, llm: FakeLLMServer, fault: Fault) -> None:
    llm.enqueue(fault)
    body = wait_ready(client)
    assert body["status"] == "failed"
    assert isinstance(body["error"], str) and "\n" not in body["error"]


def test_hostile_model_output_is_neutralised(client: TestClient, llm: FakeLLMServer) -> None:
    llm.answer = lambda _messages: (
        '<script>alert(1)</script> <img src=x onerror="alert(2)"> [click](javascript:alert(3)) '
        "<a href='javascript:alert(4)'>x</a> [ok](https://example.org) **bold** $a_i < b$"
    )
    body = wait_ready(client)
    for answer in body["answers"]:
        soup = BeautifulSoup(answer["html"], "html.parser")
        assert soup.select("script, img, iframe") == []
        assert [a["href"] for a in soup.select("a")] == ["https://example.org"]
        assert soup.select_one("strong").text == "bold"
        assert "$a_i &lt; b$" in answer["html"]
    soup = BeautifulSoup(client.post("/arxiv/kimi", params={"paper": PAPER}).text, "html.parser")
    assert soup.select("script, img") == []
    assert all(a["href"].startswith("https://") for a in soup.select("a"))


def test_per_client_limit_gives_429_but_cache_stays_free(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUMMARY_PER_IP_LIMIT", "1")
    get_settings.cache_clear()
    wait_ready(client, PAPER)
    refused = client.get(f"/api/v1/papers/{OTHER}/summary")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "detail" in refused.json()
    assert client.get(f"/api/v1/papers/{PAPER}/summary").status_code == 200


def test_full_text_from_the_pdf_when_it_can_be_fetched(
    client: TestClient, llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pdf = _pdf_with_text("The hidden method section explains spectral local learning in detail. " * 20)
    with LoopbackServer({f"/pdf/{PAPER}v1": Reply(200, pdf, {"Content-Type": "application/pdf"})}) as arxiv:
        monkeypatch.setenv("SUMMARY_FULL_TEXT", "true")
        monkeypatch.setenv("ARXIV_PDF_URL", f"{arxiv.url}/pdf")
        monkeypatch.setenv("ARXIV_MIN_INTERVAL", "0")
        get_settings.cache_clear()
        body = wait_ready(client)
    assert body["context"] == "full text"
    assert "hidden method section" in llm.chat_requests[0].messages[1]["content"]


def test_without_llm_an_extractive_digest_clearly_labelled(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, llm: FakeLLMServer
) -> None:
    monkeypatch.delenv("LLM_BASE_URL")
    get_settings.cache_clear()
    body = client.get(f"/api/v1/papers/{PAPER}/summary").json()
    assert body["extractive"] is True and body["model"] == "extractive"
    assert "not written by a language model" in body["note"]
    assert len(body["answers"]) == QUESTIONS
    assert llm.chat_requests == []
    html = client.post("/arxiv/kimi", params={"paper": PAPER}).text
    assert "not written by a language model" in html


def test_chinese_prompt_set(client: TestClient, llm: FakeLLMServer) -> None:
    client.get(f"/api/v1/papers/{PAPER}/summary", params={"lang": "zh"})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/papers/{PAPER}/summary", params={"lang": "zh"}).json()
        if body["status"] == "ready":
            break
        time.sleep(0.05)
    assert body["lang"] == "zh" and body["questions"][0] == "这篇论文试图解决什么问题？"


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("GET", "/api/v1/papers/2101.99999/summary", 404),
        ("GET", f"/api/v1/papers/{PAPER}/summary?lang=xx", 422),
        ("GET", "/api/v1/papers/nonsense/summary", 422),
        ("POST", "/arxiv/kimi?paper=nonsense", 422),
        ("POST", "/arxiv/kimi", 422),
        ("POST", f"/arxiv/star?paper={PAPER}&key=other", 422),
        ("POST", f"/arxiv/star?paper={PAPER}&key=pdf&delta=50", 422),
    ],
)
def test_bad_requests(client: TestClient, method: str, url: str, status: int) -> None:
    assert client.request(method, url).status_code == status


def _pdf_with_text(text: str) -> bytes:
    """A minimal one-page PDF whose content stream draws `text` (enough for pypdf to extract)."""
    lines = [text[i : i + 80] for i in range(0, len(text), 80)]
    body = "BT /F1 10 Tf 40 800 Td 12 TL " + " ".join(f"({line}) '" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(body)} >>\nstream\n{body}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = "%PDF-1.4\n", []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{obj}\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n" + "".join(
        f"{o:010d} 00000 n \n" for o in offsets
    )
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    return out.encode("latin-1")


def test_pregeneration_of_the_top_new_papers(
    client: TestClient, llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt

    from app.summarize.dispatch import pregenerate_summaries

    assert pregenerate_summaries(get_settings(), category="cs.LG", day=dt.date(2026, 9, 24)) == 0  # off
    monkeypatch.setenv("SUMMARY_PREGENERATE_TOP", "1")
    get_settings.cache_clear()
    assert pregenerate_summaries(get_settings(), category="cs.LG", day=dt.date(2026, 9, 24)) == 1
    body = wait_ready(client, PAPER)  # the first new paper of cs.LG that day
    assert body["status"] == "ready"
    assert pregenerate_summaries(get_settings(), category="cs.LG", day=dt.date(2026, 9, 24)) == 0  # cached
