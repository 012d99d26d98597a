"""Generate one FAQ: the questions asked in turn in one conversation, answers stored as they stream."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import update

from app.arxiv.fetch import ArxivClient
from app.arxiv.ratelimit import limiter_for
from app.config import Settings
from app.errors import LLMError
from app.store.db import session_scope
from app.store.models import Paper, Summary
from app.summarize.client import LLMClient, OpenAICompatibleClient
from app.summarize.fulltext import fetch_full_text
from app.summarize.prompts import FaqPrompt
from app.summarize.service import claim_summary, prompt_for

log = logging.getLogger(__name__)
FLUSH_EVERY = 0.1  # seconds between two writes of a streaming answer (the first delta goes at once)


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
        self.partial += text
        if self.clock() - self.last_flush >= FLUSH_EVERY:
            self._write([*self.answers, {"question": question, "answer": self.partial}], status="running")

    def answered(self, question: str, answer: str, *, prompt_tokens: int, completion_tokens: int) -> None:
        self.answers.append({"question": question, "answer": answer})
        self.partial = ""
        self.tokens[0] += prompt_tokens
        self.tokens[1] += completion_tokens
        self._write(self.answers, status="running")

    def finish(self, *, context: str) -> None:
        self._write(self.answers, status="ready", context=context)

    def fail(self, error: str) -> None:
        self._write(self.answers, status="failed", error=error[:2000])

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
    writer = ProgressWriter(settings, summary_id)
    try:
        client = client or _client(settings)
        kind, body = _context(settings, text)
        _converse(client, prompt, text, kind, body, writer)
    except LLMError as exc:
        log.warning("summary failed", extra={"summary_id": summary_id, "error": str(exc)})
        writer.fail(str(exc))
        return "failed"
    writer.finish(context=kind)
    return "ready"


def _converse(
    client: LLMClient, prompt: FaqPrompt, text: PaperText, kind: str, body: str, writer: ProgressWriter
) -> None:
    first = prompt.context_message(title=text.title, authors=text.authors, context_kind=kind, text=body)
    messages = [{"role": "system", "content": prompt.system}]
    for index, question in enumerate(prompt.questions):
        content = f"{first}\n\n{question}" if index == 0 else question
        messages.append({"role": "user", "content": content})
        done = client.stream(messages, on_delta=functools.partial(writer.delta, question))
        messages.append({"role": "assistant", "content": done.text})
        writer.answered(
            question, done.text, prompt_tokens=done.prompt_tokens, completion_tokens=done.completion_tokens
        )


def _client(settings: Settings) -> LLMClient:
    client = OpenAICompatibleClient.from_settings(settings)
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
