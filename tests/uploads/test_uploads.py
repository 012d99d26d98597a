"""A reader's own PDF: the hostile corpus refused with one clear line each by a child process under
memory and time limits, and a readable PDF's FAQ written by a loopback OpenAI-compatible server."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.config import Settings, get_settings
from app.errors import PdfRejectedError
from app.store.db import session_scope
from app.store.models import Upload
from app.summarize.pdftext import read_pdf_text
from app.summarize.uploads import find_upload, purge_uploads
from tests.llm_server import FakeLLMServer
from tests.uploads import hostile_pdfs

SITE = {"Sec-Fetch-Site": "same-origin"}
MEMORY_MB = 512
HOSTILE_ANSWER = "<script>alert(1)</script><img src=x onerror=alert(2)> [x](javascript:alert(3)) **fine**"


@cache
def corpus(name: str) -> bytes:
    return hostile_pdfs.CORPUS[name]()


@pytest.fixture
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(chunk_words=3) as server:
        yield server


@pytest.fixture
def settings(settings_env: Settings, llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in {
        "UPLOADS": "on", "LLM_BASE_URL": llm.base_url, "LLM_MODEL": "fake-llm", "LLM_RETRIES": "0",
        "RATE_UPLOAD_PER_MINUTE": "1000", "UPLOAD_MEMORY_MB": str(MEMORY_MB),
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    from app.main import create_app

    with TestClient(create_app(), raise_server_exceptions=False, headers=SITE) as test_client:
        yield test_client


def post_pdf(
    client: TestClient, data: bytes, name: str = "paper.pdf", url: str = "/api/v1/uploads"
) -> object:
    return client.post(url, files={"file": (name, data, "application/pdf")}, follow_redirects=False)


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        ("malformed.pdf", 422, "malformed and cannot be read"),
        ("many-pages.pdf", 422, "has 100000 pages: at most 500"),
        ("flate-bomb.pdf", 422, "inflates past the size allowed"),
        ("javascript.pdf", 422, "carries JavaScript"),
        ("javascript-in-a-chain.pdf", 422, "carries JavaScript"),  # escaped names: accepted before
        ("javascript-in-an-annotation.pdf", 422, "carries JavaScript"),
        ("not-a-pdf.pdf", 422, "this is not a PDF"),
        ("oversized.pdf", 413, "request body larger than"),
    ],
)
def test_each_hostile_pdf_gives_one_clear_error_within_the_memory_limit(
    client: TestClient, llm: FakeLLMServer, settings: Settings, name: str, status: int, message: str
) -> None:
    response = post_pdf(client, corpus(name), name=name)
    assert response.status_code == status  # type: ignore[attr-defined]
    assert message in response.json()["detail"]  # type: ignore[attr-defined]
    assert llm.chat_requests == []
    with session_scope(settings) as session:
        assert session.scalars(select(Upload)).all() == []


# Measured in a process of its own, whose only child is the PDF reader: this test process has had
# other children (browsers, servers) whose peak RUSAGE_CHILDREN would report instead.
PEAK_OF_READER = """
import resource, sys
from app.errors import PdfRejectedError
from app.summarize.pdftext import read_pdf_text
try:
    read_pdf_text(sys.stdin.buffer.read(), max_bytes=20_000_000, max_pages=500, max_chars=48_000,
                  memory_mb=int(sys.argv[1]), timeout=30.0)
except PdfRejectedError:
    pass
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


@pytest.mark.parametrize("name", ["malformed.pdf", "many-pages.pdf", "flate-bomb.pdf", "javascript.pdf"])
def test_the_reader_of_a_hostile_pdf_stays_under_its_memory_limit(name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PEAK_OF_READER, str(MEMORY_MB)],
        input=corpus(name),
        capture_output=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    peak_kb = int(done.stdout)
    assert 0 < peak_kb < MEMORY_MB * 1024


def test_a_file_just_over_the_limit_is_refused_by_the_app_itself(client: TestClient) -> None:
    response = post_pdf(client, hostile_pdfs.oversized(20_000_010))
    assert response.status_code == 422 and "larger than 20 MB" in response.json()["detail"]  # type: ignore[attr-defined]


def test_the_kernel_limit_stops_a_bomb_before_pypdfs_own_and_only_the_child_dies() -> None:
    limits = {"max_bytes": 20_000_000, "max_pages": 500, "max_chars": 48_000, "timeout": 30.0}
    with pytest.raises(PdfRejectedError, match="more than the 150 MB"):
        read_pdf_text(corpus("flate-bomb.pdf"), memory_mb=150, **limits)  # type: ignore[arg-type]
    with pytest.raises(PdfRejectedError, match=r"longer than the 0\.5 s allowed"):
        read_pdf_text(corpus("many-pages.pdf"), memory_mb=512, **limits | {"timeout": 0.5})  # type: ignore[arg-type]
    text = read_pdf_text(hostile_pdfs.text_pdf(hostile_pdfs.SAMPLE), memory_mb=150, **limits)  # type: ignore[arg-type]
    assert text.pages == 1 and "spectral local learning" in text.text


def wait_done(client: TestClient, token: str) -> dict[str, object]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        body: dict[str, object] = client.get(f"/api/v1/uploads/{token}").json()
        if body["status"] in ("ready", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError("the upload's FAQ did not finish")


def test_an_uploaded_pdf_gets_the_faq_its_text_then_dropped(
    client: TestClient, llm: FakeLLMServer, settings: Settings
) -> None:
    llm.enqueue(HOSTILE_ANSWER)
    pdf = hostile_pdfs.text_pdf(hostile_pdfs.SAMPLE, title="Spectral Local Learning")
    created = post_pdf(client, pdf, name="whatever.bin")  # the name does not matter, the bytes do
    assert created.status_code == 202  # type: ignore[attr-defined]
    token = created.json()["id"]  # type: ignore[attr-defined]
    assert len(token) >= 32
    body = wait_done(client, token)
    assert body["status"] == "ready" and body["title"] == "Spectral Local Learning" and body["pages"] == 1
    answers: list[dict[str, str]] = body["answers"]  # type: ignore[assignment]
    assert len(answers) == len(llm.chat_requests) >= 6
    assert "spectral local learning" in llm.chat_requests[0].messages[1]["content"]
    with session_scope(settings) as session:
        row = session.get(Upload, token)
        assert row is not None and row.text is None
        assert row.prompt_tokens > 100 and row.completion_tokens > 0  # what it spent, for /metrics
    page = client.get(f"/upload/{token}")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    soup = BeautifulSoup(page.text, "html.parser")
    faq = soup.select_one(".faq")
    assert faq is not None and len(faq.select(".faq-item")) == len(answers)
    assert not faq.find_all(["script", "img"]) and faq.find("strong").text == "fine"  # type: ignore[union-attr]
    assert not faq.find_all(href=lambda href: href and "javascript" in href)
    assert client.get("/upload/" + "x" * 32).status_code == 404


def test_the_upload_form_shows_the_reason_or_goes_to_the_new_page(
    client: TestClient, llm: FakeLLMServer
) -> None:
    assert client.get("/upload").status_code == 200
    refused = post_pdf(client, corpus("not-a-pdf.pdf"), url="/upload")
    assert refused.status_code == 422 and "Refused: this is not a PDF" in refused.text  # type: ignore[attr-defined]
    accepted = post_pdf(client, hostile_pdfs.text_pdf(hostile_pdfs.SAMPLE), url="/upload")
    assert accepted.status_code == 303  # type: ignore[attr-defined]
    assert accepted.headers["location"].startswith("/upload/")  # type: ignore[attr-defined]
    cross = client.post(
        "/upload", files={"file": ("a.pdf", b"%PDF-1.4")}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status_code == 403


def test_uploads_are_off_unless_turned_on(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPLOADS", "off")
    get_settings.cache_clear()
    assert client.get("/upload").status_code == 404
    response = post_pdf(client, hostile_pdfs.text_pdf(hostile_pdfs.SAMPLE))
    assert response.status_code == 404 and "UPLOADS=on" in response.json()["detail"]  # type: ignore[attr-defined]


def test_uploads_older_than_a_day_are_purged(settings: Settings) -> None:
    now = dt.datetime.now(dt.UTC)
    make: Callable[[str, dt.datetime], Upload] = lambda token, at: Upload(  # noqa: E731
        id=token, status="ready", title="", pages=1, content=[], model="m", prompt_version="v",
        created_at=at, updated_at=at,
    )  # fmt: skip
    with session_scope(settings) as session:
        session.add_all(
            [make("o" * 32, now - dt.timedelta(hours=25)), make("n" * 32, now - dt.timedelta(hours=1))]
        )
    with session_scope(settings) as session:
        assert find_upload(session, settings, "o" * 32) is None  # expired: gone even before the purge
        assert purge_uploads(session, settings) == 1
    with session_scope(settings) as session:
        assert [row.id for row in session.scalars(select(Upload))] == ["n" * 32]


def test_an_upload_whose_generation_died_is_shown_failed(client: TestClient, settings: Settings) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=settings.summary_deadline + 600)
    with session_scope(settings) as session:
        session.add(
            Upload(
                id="d" * 32, status="running", title="", pages=1, text="kept", content=[], model="m",
                prompt_version="v", created_at=long_ago, updated_at=long_ago,
            )
        )  # fmt: skip
    body = client.get("/api/v1/uploads/" + "d" * 32).json()
    assert body["status"] == "failed" and "interrupted" in body["error"]


def test_a_readers_own_model_writes_their_uploads_faq_and_its_key_is_kept_nowhere(
    client: TestClient, llm: FakeLLMServer, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-upload-secret-42"
    monkeypatch.setenv("OWN_KEY_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("SUMMARY_PER_IP_LIMIT", "0")  # the shared limits do not apply to own models
    monkeypatch.setenv("SUMMARY_DAILY_LIMIT", "0")
    get_settings.cache_clear()
    with FakeLLMServer(api_key=secret) as own:
        headers = {"X-LLM-Base-URL": own.base_url, "X-LLM-Key": secret, "X-LLM-Model": "reader-model"}
        pdf = hostile_pdfs.text_pdf(hostile_pdfs.SAMPLE)
        created = client.post("/api/v1/uploads", files={"file": ("p.pdf", pdf)}, headers=headers)
        assert created.status_code == 202
        body = wait_done(client, created.json()["id"])
        assert body["status"] == "ready" and body["model"] == "reader-model"
        assert own.chat_requests and own.chat_requests[0].headers["authorization"] == f"Bearer {secret}"
    assert llm.chat_requests == []
    with session_scope(settings) as session:
        row = session.scalars(select(Upload)).one()
        assert secret not in repr([getattr(row, c.key) for c in Upload.__table__.columns])
    refused = post_pdf(client, hostile_pdfs.text_pdf(hostile_pdfs.SAMPLE))  # the shared model: limited
    assert refused.status_code == 429  # type: ignore[attr-defined]
    assert "daily budget" in refused.json()["detail"]  # type: ignore[attr-defined]


def test_an_upload_by_the_sites_model_spends_the_days_budget_of_generations(
    client: TestClient, llm: FakeLLMServer, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Uploads skipped SUMMARY_DAILY_LIMIT (FAQs, TL;DRs and translations share it): the costliest kind."""
    from app.summarize.service import generations_since

    monkeypatch.setenv("SUMMARY_DAILY_LIMIT", "1")
    get_settings.cache_clear()
    created = post_pdf(client, hostile_pdfs.text_pdf(hostile_pdfs.SAMPLE))
    assert created.status_code == 202  # type: ignore[attr-defined]
    wait_done(client, created.json()["id"])  # type: ignore[attr-defined]
    with session_scope(settings) as session:
        assert generations_since(session, dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)) == 1
    again = post_pdf(client, hostile_pdfs.text_pdf(hostile_pdfs.SAMPLE))
    assert again.status_code == 429  # type: ignore[attr-defined]
    assert "daily budget" in again.json()["detail"]  # type: ignore[attr-defined]
