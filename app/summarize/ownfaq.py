"""A paper's FAQ written by a reader's own model (app/summarize/ownkey.py), for that reader alone.

The shared FAQ is shown when it is written already: nothing is generated. Otherwise the reader's model
answers the same prompt's questions in one conversation, under the same bounds (deadline, token cap),
through generate.py's own steps (`faq_context`, `converse_faq`); but the answers go only to the reader
who asked (a `Live` followed by their stream), never to the `summaries` table: one person's model must
not speak to other readers, and what it wrote is gone when their stream ends. The shared daily limit
does not apply: the reader pays for it. If every reader of it goes away, the generation stops at the
next piece rather than spend their tokens for nobody.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import lru_cache

from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import LLMError
from app.store.models import Paper
from app.summarize.client import LLMClient, OpenAICompatibleClient
from app.summarize.dispatch import peek_faq
from app.summarize.generate import (
    Bounds,
    PaperText,
    ReaderGoneError,
    converse_faq,
    faq_context,
    paper_text,
    public_reason,
)
from app.summarize.live import Live
from app.summarize.ownkey import ReaderLLM, generation_client
from app.summarize.prompts import FaqPrompt
from app.summarize.service import FaqView, prompt_for

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OwnFaq:
    """What a reader with their own model follows: the shared FAQ (`own` False) or their own."""

    live: Live[FaqView]
    own: bool


@lru_cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=8, thread_name_prefix="ownfaq")


def open_own_faq(
    session: Session, settings: Settings, *, paper: Paper, lang: str, reader: ReaderLLM
) -> OwnFaq:
    """The shared FAQ when it is written, else a generation by the reader's model, started now."""
    shared = peek_faq(session, settings, paper=paper, lang=lang)
    if shared is not None and shared.status == "ready" and not shared.extractive:
        return OwnFaq(Live(shared), own=False)
    prompt = prompt_for(settings, lang)
    first = FaqView("running", [], prompt.questions, reader.model, prompt.version, lang, phase="starting")
    live = Live(first)
    _pool().submit(generate_own_faq, settings, prompt, paper_text(paper), reader, live)
    return OwnFaq(live, own=True)


def generate_own_faq(
    settings: Settings,
    prompt: FaqPrompt,
    text: PaperText,
    reader: ReaderLLM,
    live: Live[FaqView],
    *,
    client: LLMClient | None = None,
) -> str:
    """Write the FAQ with the reader's model into `live`; its final status (nothing is stored)."""
    bounds, writer, own = (
        Bounds(settings, abandoned=lambda: live.abandoned),
        LiveFaqWriter(live),
        client is None,
    )
    try:
        client = client or generation_client(settings, reader, bounds)
        kind, body, reason = faq_context(settings, text, writer)
        converse_faq(client, prompt, text, kind, body, writer, bounds)
        writer.finish(context=kind, reason=reason)
        return "ready"
    except ReaderGoneError:
        writer.fail("nobody was following it any more")
        return "abandoned"
    except Exception as exc:
        # Logged without the reader's key or address: an LLMError's message is one line without the
        # key (client.py), and the reader's host is theirs to know, not this server's log's.
        if isinstance(exc, LLMError):
            log.warning("own-model FAQ failed", extra={"paper": text.arxiv_id, "error": type(exc).__name__})
        else:
            log.exception("own-model FAQ failed unexpectedly", extra={"paper": text.arxiv_id})
        writer.fail(public_reason(exc, own=True))
        return "failed"
    finally:
        if own and isinstance(client, OpenAICompatibleClient):
            client.close()


class LiveFaqWriter:
    """generate.py's FaqWriter for an own-model FAQ: each piece goes to the readers following `live`."""

    def __init__(self, live: Live[FaqView]):
        self.live = live
        self.answers: list[dict[str, str]] = []
        self.partial = ""

    def delta(self, question: str, text: str) -> None:
        # Readers gone is Bounds' to say (it checks before each piece and every chunk).
        self.partial += text.replace("\x00", "")
        answers = [*self.answers, {"question": question, "answer": self.partial}]
        self.live.change(lambda view: replace(view, answers=answers))

    def answered(self, question: str, answer: str, *, prompt_tokens: int, completion_tokens: int) -> None:
        self.answers.append({"question": question, "answer": answer.replace("\x00", "")})
        self.partial, answers = "", list(self.answers)
        self.live.change(lambda view: replace(view, answers=answers))

    def set_phase(self, phase: str) -> None:
        if self.live.abandoned:
            raise ReaderGoneError
        self.live.change(lambda view: replace(view, phase=phase[:200]))

    def finish(self, *, context: str, reason: str | None) -> None:
        answers = list(self.answers)
        self.live.change(
            lambda view: replace(
                view, status="ready", answers=answers, phase=None, context=context, context_reason=reason
            )
        )

    def fail(self, error: str) -> None:
        answers = list(self.answers)
        self.live.change(
            lambda view: replace(view, status="failed", answers=answers, phase=None, error=error)
        )
