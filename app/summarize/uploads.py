"""A reader's own PDF (UPLOADS=on): its text read in a child process, the same FAQ written from it.

The PDF itself is never stored: its text is read while the upload request waits (app/summarize/
pdftext.py, under memory and time limits, so a hostile file fails that request with one clear line)
and kept in the `uploads` row only until the FAQ is written (ready or failed), then dropped. The FAQ is
kept UPLOAD_KEEP_HOURS (a day at most) on a page whose address is an unguessable token; every upload
request purges what is older. The FAQ is generated in a small thread pool of the web process, with the
FAQ's prompt and bounds (deadline, token cap).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import LLMError, NoModelError, StreamsBusyError, SummaryLimitError
from app.store.db import session_scope
from app.store.models import Upload
from app.store.papers import as_utc
from app.summarize.client import OpenAICompatibleClient
from app.summarize.fulltext import CHARS_PER_TOKEN
from app.summarize.generate import BoundExceededError, Bounds, public_reason
from app.summarize.ownkey import ReaderLLM, generation_client
from app.summarize.pdftext import PdfText, read_pdf_text
from app.summarize.service import CLAIMING, LOST_AFTER, check_limits, client_key, llm_configured, prompt_for

log = logging.getLogger(__name__)
FLUSH_EVERY = 0.5


# At most two PDFs read at once per web process: each child may take UPLOAD_MEMORY_MB and a core.
_readers = threading.BoundedSemaphore(2)


def read_upload(data: bytes, settings: Settings) -> PdfText:
    """The uploaded file's text, or PdfRejectedError with one line saying why not."""
    if not _readers.acquire(timeout=settings.upload_timeout):
        raise StreamsBusyError("this server is reading other PDFs: upload again in a moment")
    try:
        return read_pdf_text(
            data,
            max_bytes=settings.upload_max_bytes,
            max_pages=settings.upload_max_pages,
            max_chars=settings.summary_context_tokens * CHARS_PER_TOKEN,
            memory_mb=settings.upload_memory_mb,
            timeout=settings.upload_timeout,
        )
    finally:
        _readers.release()


def create_upload(
    session: Session, settings: Settings, *, pdf: PdfText, client_address: str, reader: ReaderLLM | None
) -> Upload:
    """A new upload row waiting for its FAQ; the caller commits. The site's model writes it within the
    day's budget of generations (all clients) and the per-client limit of uploads; a reader's own model
    costs this site nothing: its row has no requester and counts against neither."""
    now, requester = dt.datetime.now(dt.UTC), client_key(client_address)
    if reader is None:
        check_limits(session, settings, requester=None, now=now)  # the budget FAQs and TL;DRs share
        midnight = dt.datetime.combine(now.date(), dt.time(), dt.UTC)
        today = select(func.count()).select_from(Upload).where(Upload.created_at >= midnight)
        if (session.scalar(today.where(Upload.requester == requester)) or 0) >= settings.summary_per_ip_limit:
            retry = int((midnight + dt.timedelta(days=1) - now).total_seconds()) + 1
            raise SummaryLimitError(
                "you have uploaded many PDFs today; try again tomorrow", retry_after=retry
            )
    upload = Upload(
        id=secrets.token_urlsafe(24), status="pending", title=pdf.title, pages=pdf.pages,
        text=pdf.text.replace("\x00", ""), content=[], model=reader.model if reader else str(settings.llm_model),
        prompt_version=prompt_for(settings, "en").version, requester=None if reader else requester,
        created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(upload)
    session.flush()
    return upload


def start_upload(
    settings: Settings, data: bytes, *, client_address: str, reader: ReaderLLM | None = None
) -> str:
    """A reader uploads a PDF: read it (PdfRejectedError when it cannot be), store its text, queue its
    FAQ (by the reader's own model when they sent one: held in memory for that generation only); the
    new page's token. Expired uploads are purged on the way."""
    if reader is None and not llm_configured(settings):  # before the child: nothing could use the text
        raise NoModelError("no language model is configured here: give your own model to upload a PDF")
    pdf = read_upload(data, settings)
    with CLAIMING, session_scope(settings) as session:  # counted and created in one step (check_limits)
        purge_uploads(session, settings)
        token = create_upload(session, settings, pdf=pdf, client_address=client_address, reader=reader).id
    _pool().submit(generate_upload_faq, settings, token, reader=reader)
    return token


def find_upload(session: Session, settings: Settings, token: str) -> Upload | None:
    """The upload behind a token, unless it has expired; one whose generation died with its process
    (no write for longer than a generation may take) is shown failed."""
    row = session.get(Upload, token) if 20 <= len(token) <= 64 else None
    now = dt.datetime.now(dt.UTC)
    if row is None or _expired(row, settings, now):
        return None
    silent = (now - as_utc(row.updated_at)).total_seconds()
    if row.status == "running" and silent > settings.summary_deadline + LOST_AFTER:
        session.expunge(row)  # shown so, not written: the row goes with the next purge
        row.status, row.error = "failed", "the FAQ was interrupted: upload the PDF again"
    return row


def purge_uploads(session: Session, settings: Settings) -> int:
    """Delete uploads (text and FAQ) older than UPLOAD_KEEP_HOURS; how many went."""
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(hours=settings.upload_keep_hours)
    result = session.execute(delete(Upload).where(Upload.created_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


def _expired(row: Upload, settings: Settings, now: dt.datetime) -> bool:
    return now - as_utc(row.created_at) > dt.timedelta(hours=settings.upload_keep_hours)


@lru_cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="upload")


class _Writer:
    """The FAQ so far into the upload row, throttled; the text dropped with the last write."""

    def __init__(self, settings: Settings, upload_id: str):
        self.settings, self.upload_id, self.last = settings, upload_id, 0.0
        self.answers: list[dict[str, str]] = []
        self.tokens = (0, 0)  # prompt and completion tokens of the answers so far (for /metrics)

    def write(self, content: list[dict[str, str]], *, status: str, **extra: object) -> None:
        values = {"content": content, "status": status, "updated_at": dt.datetime.now(dt.UTC), **extra}
        values |= {"prompt_tokens": self.tokens[0], "completion_tokens": self.tokens[1]}
        with session_scope(self.settings) as session:
            session.execute(update(Upload).where(Upload.id == self.upload_id).values(**values))


def generate_upload_faq(settings: Settings, upload_id: str, *, reader: ReaderLLM | None = None) -> str:
    """Write the FAQ of an upload; its final status ("skipped" when another thread has it or it is gone)."""
    with session_scope(settings) as session:
        claimed = session.execute(
            update(Upload)
            .where(Upload.id == upload_id, Upload.status == "pending")
            .values(status="running", updated_at=dt.datetime.now(dt.UTC))
        )
        row = session.get(Upload, upload_id) if getattr(claimed, "rowcount", 0) else None
        if row is None:
            return "skipped"
        title, text = row.title or "(an uploaded PDF)", row.text or ""
    writer, bounds = _Writer(settings, upload_id), Bounds(settings)
    try:
        with generation_client(settings, reader, bounds) as client:
            _converse(client, settings, title, text, writer, bounds)
    except Exception as exc:
        if isinstance(exc, LLMError):  # a reader's own model: its type only (their host is theirs)
            log.warning("upload FAQ failed", extra={"error": type(exc).__name__ if reader else str(exc)})
        else:
            log.exception("upload FAQ failed unexpectedly")
        writer.write(
            writer.answers, status="failed", error=public_reason(exc, own=reader is not None), text=None
        )
        return "failed"
    writer.write(writer.answers, status="ready", text=None)
    return "ready"


def _converse(
    client: OpenAICompatibleClient, settings: Settings, title: str, text: str, writer: _Writer, bounds: Bounds
) -> None:
    """The FAQ's questions in turn, in one conversation, as for an arXiv paper read in full."""
    prompt = prompt_for(settings, "en")
    first = prompt.context_message(title=title, authors="(not given)", context_kind="full text", text=text)
    messages = [{"role": "system", "content": prompt.system}]
    for index, question in enumerate(prompt.questions):
        messages.append({"role": "user", "content": f"{first}\n\n{question}" if index == 0 else question})
        bounds.start_answer()
        partial: list[str] = []

        def on_delta(piece: str, question: str = question, partial: list[str] = partial) -> None:
            bounds.piece(piece)
            partial.append(piece.replace("\x00", ""))
            if bounds.clock() - writer.last >= FLUSH_EVERY:
                writer.last = bounds.clock()
                now = {"question": question, "answer": "".join(partial)}
                writer.write([*writer.answers, now], status="running")

        done = client.stream(messages, on_delta=on_delta)
        if done.completion_tokens > bounds.max_tokens:
            reason = f"the answer ran past the {bounds.max_tokens} tokens allowed"
            raise BoundExceededError(reason, reason=reason)
        messages.append({"role": "assistant", "content": done.text})
        writer.answers.append({"question": question, "answer": done.text.replace("\x00", "")})
        writer.tokens = (writer.tokens[0] + done.prompt_tokens, writer.tokens[1] + done.completion_tokens)
        writer.write(writer.answers, status="running")
