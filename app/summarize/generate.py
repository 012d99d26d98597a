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
from typing import Protocol

import httpx2
from sqlalchemy import update

from app.arxiv.fetch import ArxivClient, RateLimiter
from app.arxiv.ratelimit import limiter_for
from app.config import Settings
from app.errors import LLMAuthError, LLMContentFilterError, LLMError, LLMResponseError, LLMUnavailableError
from app.store.db import session_scope
from app.store.models import Paper, Summary
from app.summarize.client import LLMClient, OpenAICompatibleClient
from app.summarize.fulltext import fetch_full_text
from app.summarize.heartbeat import ClaimLostError, Heartbeat, write_claimed
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


class ReaderGoneError(BoundExceededError):
    """Every reader of a private generation (a reader's own model) left before it was done: it stops,
    since nothing of it is stored and nobody would read it."""

    def __init__(self) -> None:
        super().__init__("nobody was following it any more", reason="nobody was following it any more")


def public_reason(exc: BaseException, *, own: bool = False) -> str:
    """What a reader is told of a failed generation: no address, no key, no body of the model's server;
    `own`: the model was the reader's own (their key, not this site's, was refused)."""
    if own:
        if isinstance(exc, LLMAuthError):
            return "your model refused the key you gave (see the Model settings)"
        return public_reason(exc).replace("the language model", "your model")
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
    """The deadline of one generation and the token cap of one answer; `check*` raise when passed.

    `abandoned`, for a private generation, says when its readers have all gone: checked with the time
    (every chunk, keep-alive comments included), so a stalling model is left as soon as they go.
    """

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float] = time.monotonic,
        *,
        abandoned: Callable[[], bool] | None = None,
    ):
        self.clock, self.seconds, self.max_tokens = clock, settings.summary_deadline, settings.llm_max_tokens
        self.deadline = clock() + settings.summary_deadline
        self.pieces = self.chars = 0
        self.abandoned = abandoned

    def check_time(self) -> None:
        if self.abandoned is not None and self.abandoned():
            raise ReaderGoneError
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


class FaqWriter(Protocol):
    """Where a generation's progress goes: the summary row (`ProgressWriter`), or only the reader
    who asked, for a FAQ written by their own model (app/summarize/ownfaq.py)."""

    def delta(self, question: str, text: str) -> None: ...

    def answered(self, question: str, answer: str, *, prompt_tokens: int, completion_tokens: int) -> None: ...

    def set_phase(self, phase: str) -> None: ...


class ProgressWriter:
    """Writes the answers so far to the summary row, throttled, each write its own transaction."""

    def __init__(
        self,
        settings: Settings,
        summary_id: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        claim: int | None = None,  # the claim this process holds: a write outside it raises ClaimLostError
    ):
        self.settings, self.summary_id, self.clock, self.claim = settings, summary_id, clock, claim
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

    def finish(self, *, context: str, reason: str | None = None) -> None:
        self._write(self.answers, status="ready", context=context, context_reason=reason, phase=None)

    def set_phase(self, phase: str) -> None:
        """Say what the generation does now ("fetching the PDF", "question 2 of 6"), at once."""
        with session_scope(self.settings) as session:
            session.execute(
                update(Summary)
                .where(Summary.id == self.summary_id)
                .values(phase=phase[:200], updated_at=dt.datetime.now(dt.UTC))
            )

    def fail(self, error: str) -> None:
        """Mark the summary failed; if the answers so far cannot be stored, fail it without them."""
        error = error.replace("\x00", "")[:2000]
        try:
            self._write(self.answers, status="failed", error=error)
        except ClaimLostError:
            return  # another process generates it now: its outcome, not this one's, is the summary's
        except Exception:
            log.exception(
                "storing a failed summary with its answers failed", extra={"summary_id": self.summary_id}
            )
            self._write([], status="failed", error=error)

    def _write(self, content: list[dict[str, str]], *, status: str, **extra: object) -> None:
        self.last_flush = self.clock()
        values = {"content": content, "status": status, "updated_at": dt.datetime.now(dt.UTC), **extra}
        values |= {"prompt_tokens": self.tokens[0], "completion_tokens": self.tokens[1]}
        write_claimed(self.settings, self.summary_id, self.claim, **values)  # with a heartbeat


def generate_summary(settings: Settings, summary_id: int, *, client: LLMClient | None = None) -> str:
    """Claim and generate a summary; returns its final status ("skipped" when someone else has it)."""
    with session_scope(settings) as session:
        claim = claim_summary(session, settings, summary_id)
        if claim is None:
            return "skipped"
        row = session.get(Summary, summary_id)
        paper = session.get(Paper, row.paper_id) if row else None
        if row is None or paper is None:
            return "skipped"  # deleted meanwhile: nothing to do
        prompt, text = prompt_for(settings, row.lang), paper_text(paper)
    writer, bounds = ProgressWriter(settings, summary_id, claim=claim), Bounds(settings)
    heartbeat = Heartbeat(settings, summary_id, claim, last_write=lambda: writer.last_flush).start()
    try:
        client = client or _client(settings, bounds)
        kind, body, reason = faq_context(settings, text, writer)
        converse_faq(client, prompt, text, kind, body, writer, bounds)
        writer.finish(context=kind, reason=reason)
    except ClaimLostError:  # judged abandoned and claimed by another process: it generates it now
        log.warning("summary taken over; this generation stops", extra={"summary_id": summary_id})
        return "skipped"
    except LLMError as exc:
        log.warning("summary failed", extra={"summary_id": summary_id, "error": str(exc)})
        writer.fail(public_reason(exc))
        return "failed"
    except Exception as exc:  # a bug or an outage: the row must not stay "running"; raised on
        log.exception("summary failed unexpectedly", extra={"summary_id": summary_id})
        writer.fail(public_reason(exc))
        raise
    finally:
        heartbeat.stop()
    return "ready"


def converse_faq(
    client: LLMClient,
    prompt: FaqPrompt,
    text: PaperText,
    kind: str,
    body: str,
    writer: FaqWriter,
    bounds: Bounds,
) -> None:
    """Ask the prompt's questions in turn, in one conversation, each answer streamed to `writer`."""
    first = prompt.context_message(title=text.title, authors=text.authors, context_kind=kind, text=body)
    messages = [{"role": "system", "content": prompt.system}]
    for index, question in enumerate(prompt.questions):
        writer.set_phase(f"question {index + 1} of {len(prompt.questions)}")
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


def paper_text(paper: Paper) -> PaperText:
    return PaperText(paper.arxiv_id, paper.version, paper.title, ", ".join(paper.authors), paper.abstract)


def faq_context(settings: Settings, text: PaperText, writer: FaqWriter) -> tuple[str, str, str | None]:
    """("full text", the PDF's text, None) when it can be had, else ("abstract", the abstract, why)."""
    if not settings.summary_full_text:
        return "abstract", text.abstract, "this server is set to read abstracts only"
    version = f"v{text.version}" if text.version else ""
    url = f"{settings.arxiv_pdf_url.rstrip('/')}/{text.arxiv_id}{version}"
    limiter = _AttemptsShown(limiter_for(settings), writer, attempts=settings.arxiv_retries + 1)
    with ArxivClient.from_settings(settings, limiter=limiter) as arxiv:
        full = fetch_full_text(arxiv, url, token_budget=settings.summary_context_tokens)
    if full.text:
        return "full text", full.text, None
    return "abstract", text.abstract, full.reason


class _AttemptsShown:
    """arXiv's limiter, also telling the reader which attempt at the PDF this is: a PDF retried for
    18 s must not read as an idle "Writing..." (the client waits on the limiter before each try)."""

    def __init__(self, inner: RateLimiter, writer: FaqWriter, *, attempts: int):
        self.inner, self.writer, self.attempts, self.made = inner, writer, attempts, 0

    def wait(self) -> None:
        self.made += 1
        retry = f" (attempt {self.made} of {self.attempts})" if self.made > 1 else ""
        self.writer.set_phase(f"fetching the PDF{retry}")
        self.inner.wait()
