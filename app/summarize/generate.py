"""Generate one FAQ: the questions asked in turn in one conversation, answers stored as they stream.

A generation is bounded whatever the model does: a wall-clock deadline (SUMMARY_DEADLINE) checked on
every byte the model sends (a server sending only keep-alive comments included) and a token cap
(LLM_MAX_TOKENS per answer) checked on every piece, so a thread of the pool always comes back. What
readers see of a failure is a generic reason; the detail (the LLM's address, its body) goes to the log.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx2
from sqlalchemy import update

from app.arxiv.fetch import ArxivClient
from app.arxiv.ratelimit import limiter_for
from app.config import Settings
from app.errors import LLMAuthError, LLMContentFilterError, LLMError, LLMResponseError, LLMUnavailableError
from app.store.db import session_scope
from app.store.models import Paper, Summary
from app.summarize.client import LLMClient, OpenAICompatibleClient
from app.summarize.fulltext import fetch_full_text
from app.summarize.prompts import FaqPrompt
from app.summarize.service import claim_summary, prompt_for

log = logging.getLogger(__name__)
# Seconds between two writes of a streaming answer (the first piece goes at once): each write
# rewrites the answers so far, and readers poll every 50 ms, so a half-second step reads as a stream.
FLUSH_EVERY = 0.5
CHARS_PER_TOKEN_MAX = 8  # no tokenizer spends fewer tokens than this many characters on average


class BoundExceededError(LLMResponseError):
    """The generation ran past its deadline or its token cap (never retried: it would only do it again)."""

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.reason = reason


def public_reason(exc: BaseException) -> str:
    """What a reader is told of a failed generation: no address, no key, no body of the model's server."""
    if isinstance(exc, BoundExceededError):
        return exc.reason
    if isinstance(exc, LLMContentFilterError):
        return "the language model's content filter refused this paper"
    if isinstance(exc, LLMAuthError):
        return "the language model refused this site's credentials"
    if isinstance(exc, LLMUnavailableError):
        return "the language model could not be reached or did not answer in time"
    if isinstance(exc, LLMError):
        return "the language model sent an answer that could not be read"
    return "an internal error stopped the generation"


class Bounds:
    """The deadline of one generation and the token cap of one answer; `check*` raise when passed."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic):
        self.clock, self.seconds, self.max_tokens = clock, settings.summary_deadline, settings.llm_max_tokens
        self.deadline = clock() + settings.summary_deadline
        self.pieces = self.chars = 0

    def check_time(self) -> None:
        if self.clock() > self.deadline:
            reason = f"the answer took longer than the {self.seconds:g} s allowed"
            raise BoundExceededError(reason, reason=reason)

    def start_answer(self) -> None:
        self.pieces = self.chars = 0
        self.check_time()

    def piece(self, text: str) -> None:
        """One streamed piece: each carries at least one token, and a token at most a few characters."""
        self.pieces += 1
        self.chars += len(text)
        if self.pieces > self.max_tokens or self.chars > self.max_tokens * CHARS_PER_TOKEN_MAX:
            reason = f"the answer ran past the {self.max_tokens} tokens allowed"
            raise BoundExceededError(reason, reason=reason)
        self.check_time()


class DeadlineTransport(httpx2.BaseTransport):
    """Checks the deadline on every chunk of every response body, keep-alive comments included."""

    def __init__(self, bounds: Bounds, inner: httpx2.BaseTransport | None = None):
        self.bounds, self.inner = bounds, inner or httpx2.HTTPTransport()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        self.bounds.check_time()
        response = self.inner.handle_request(request)
        response.stream = _DeadlineBody(response.stream, self.bounds)  # type: ignore[arg-type]
        return response

    def close(self) -> None:
        self.inner.close()


class _DeadlineBody(httpx2.SyncByteStream):
    def __init__(self, body: httpx2.SyncByteStream, bounds: Bounds):
        self._body, self._bounds = body, bounds

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._body:
            self._bounds.check_time()
            yield chunk

    def close(self) -> None:
        self._body.close()


@dataclass(frozen=True, slots=True)
class PaperText:
    arxiv_id: str
    version: int | None
    title: str
    authors: str
    abstract: str


class ProgressWriter:
    """Writes the answers so far to the summary row, throttled, each write its own transaction."""

    def __init__(self, settings: Settings, summary_id: int, clock: Callable[[], float] = time.monotonic):
        self.settings, self.summary_id, self.clock = settings, summary_id, clock
        self.answers: list[dict[str, str]] = []
        self.partial = ""
        self.last_flush = float("-inf")
        self.tokens = [0, 0]

    def delta(self, question: str, text: str) -> None:
        self.partial += text.replace("\x00", "")  # PostgreSQL refuses NUL in text
        if self.clock() - self.last_flush >= FLUSH_EVERY:
            self._write([*self.answers, {"question": question, "answer": self.partial}], status="running")

    def answered(self, question: str, answer: str, *, prompt_tokens: int, completion_tokens: int) -> None:
        self.answers.append({"question": question, "answer": answer.replace("\x00", "")})
        self.partial = ""
        self.tokens[0] += prompt_tokens
        self.tokens[1] += completion_tokens
        self._write(self.answers, status="running")

    def finish(self, *, context: str) -> None:
        self._write(self.answers, status="ready", context=context)

    def fail(self, error: str) -> None:
        """Mark the summary failed; if the answers so far cannot be stored, fail it without them."""
        error = error.replace("\x00", "")[:2000]
        try:
            self._write(self.answers, status="failed", error=error)
        except Exception:
            log.exception(
                "storing a failed summary with its answers failed", extra={"summary_id": self.summary_id}
            )
            self._write([], status="failed", error=error)

    def _write(self, content: list[dict[str, str]], *, status: str, **extra: object) -> None:
        self.last_flush = self.clock()
        values = {"content": content, "status": status, "updated_at": dt.datetime.now(dt.UTC), **extra}
        values |= {"prompt_tokens": self.tokens[0], "completion_tokens": self.tokens[1]}
        with session_scope(self.settings) as session:
            session.execute(update(Summary).where(Summary.id == self.summary_id).values(**values))


def generate_summary(settings: Settings, summary_id: int, *, client: LLMClient | None = None) -> str:
    """Claim and generate a summary; returns its final status ("skipped" when someone else has it)."""
    with session_scope(settings) as session:
        if not claim_summary(session, settings, summary_id):
            return "skipped"
        row = session.get(Summary, summary_id)
        paper = session.get(Paper, row.paper_id) if row else None
        if row is None or paper is None:
            return "skipped"  # deleted meanwhile: nothing to do
        prompt, text = prompt_for(settings, row.lang), _paper_text(paper)
    writer, bounds = ProgressWriter(settings, summary_id), Bounds(settings)
    try:
        client = client or _client(settings, bounds)
        kind, body = _context(settings, text)
        _converse(client, prompt, text, kind, body, writer, bounds)
    except LLMError as exc:
        log.warning("summary failed", extra={"summary_id": summary_id, "error": str(exc)})
        writer.fail(public_reason(exc))
        return "failed"
    except Exception as exc:  # a bug or an outage: the row must not stay "running"; raised on
        log.exception("summary failed unexpectedly", extra={"summary_id": summary_id})
        writer.fail(public_reason(exc))
        raise
    writer.finish(context=kind)
    return "ready"


def _converse(
    client: LLMClient,
    prompt: FaqPrompt,
    text: PaperText,
    kind: str,
    body: str,
    writer: ProgressWriter,
    bounds: Bounds,
) -> None:
    first = prompt.context_message(title=text.title, authors=text.authors, context_kind=kind, text=body)
    messages = [{"role": "system", "content": prompt.system}]
    for index, question in enumerate(prompt.questions):
        content = f"{first}\n\n{question}" if index == 0 else question
        messages.append({"role": "user", "content": content})
        bounds.start_answer()

        def on_delta(piece: str, question: str = question) -> None:
            bounds.piece(piece)
            writer.delta(question, piece)

        done = client.stream(messages, on_delta=on_delta)
        if done.completion_tokens > bounds.max_tokens:
            reason = f"the answer ran past the {bounds.max_tokens} tokens allowed"
            raise BoundExceededError(reason, reason=reason)
        messages.append({"role": "assistant", "content": done.text})
        writer.answered(
            question, done.text, prompt_tokens=done.prompt_tokens, completion_tokens=done.completion_tokens
        )


def _client(settings: Settings, bounds: Bounds) -> LLMClient:
    client = OpenAICompatibleClient.from_settings(settings, transport=DeadlineTransport(bounds))
    if client is None:
        raise LLMError("no LLM is configured (LLM_BASE_URL, LLM_MODEL)")
    return client


def _paper_text(paper: Paper) -> PaperText:
    return PaperText(paper.arxiv_id, paper.version, paper.title, ", ".join(paper.authors), paper.abstract)


def _context(settings: Settings, text: PaperText) -> tuple[str, str]:
    """("full text", the PDF's text) when it can be had, else ("abstract", the abstract)."""
    if settings.summary_full_text:
        url = f"{settings.arxiv_pdf_url.rstrip('/')}/{text.arxiv_id}" + (
            f"v{text.version}" if text.version else ""
        )
        with ArxivClient.from_settings(settings, limiter=limiter_for(settings)) as arxiv:
            full = fetch_full_text(arxiv, url, token_budget=settings.summary_context_tokens)
        if full:
            return "full text", full
    return "abstract", text.abstract
