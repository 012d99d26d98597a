"""Follow-up questions on a paper: one stored answer per normalised question, streamed as it is written.

A question is normalised (case, whitespace, punctuation) and hashed: every reader who asks the same
one shares the row in `answers`, generated once per (paper, model, prompt version). The answer is
grounded in the paper's text: the PDF's text when the paper's FAQ was written from it, else the
abstract, and the answer says which.

The generation runs in a small thread pool of the web process (a short, interactive answer: not worth
the broker's round trip) and does not depend on the asking connection. Readers in the same process
get each piece as it arrives (`LiveAnswer`: the first token reaches them within milliseconds); readers
in other processes follow the row, which the generator writes every FLUSH_EVERY seconds.

A reader's own model (app/summarize/ownkey.py) answers only that reader: nothing is stored, so a
stranger's model or server never speaks to other readers, and the shared daily limit does not apply.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import re
import threading
import time
import unicodedata
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from anyio import to_thread
from cachetools import TTLCache
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.arxiv.fetch import ArxivClient
from app.arxiv.ratelimit import limiter_for
from app.config import Settings
from app.errors import InvalidQueryError, LLMError, NoModelError, NotFoundError, SummaryLimitError
from app.store.db import session_scope
from app.store.models import Answer, Paper, Summary
from app.store.papers import as_utc, stored_paper
from app.store.upsert import dialect_insert
from app.summarize.client import LLMClient, OpenAICompatibleClient
from app.summarize.fulltext import fetch_full_text
from app.summarize.generate import FLUSH_EVERY, BoundExceededError, Bounds, public_reason
from app.summarize.live import AnswerState, LiveAnswer
from app.summarize.ownkey import ReaderLLM, generation_client
from app.summarize.service import FAILED_RETRY_AFTER, LOST_AFTER, client_key, llm_configured
from app.venues.types import is_venue_id

log = logging.getLogger(__name__)
PROMPT_FILE = Path(__file__).resolve().parent / "prompts" / "ask-v1.txt"
PROMPT_VERSION = "ask-v1"
MIN_CHARS, MAX_CHARS = 3, 500
_PUNCTUATION = re.compile(r"[\W_]+", re.UNICODE)


def normalise_question(question: str) -> str:
    """Case, whitespace and punctuation folded: "What's the dataset?" and "whats the  DATASET" meet."""
    folded = unicodedata.normalize("NFKC", question).casefold().replace("'", "").replace("’", "")
    return " ".join(_PUNCTUATION.sub(" ", folded).split())


def question_key(question: str) -> str:
    return hashlib.sha256(normalise_question(question).encode()).hexdigest()


def check_question(question: str) -> str:
    """The question trimmed, or InvalidQueryError saying what is wrong with it."""
    text = " ".join(question.replace("\x00", "").split())
    if len(text) > MAX_CHARS:
        raise InvalidQueryError(f"question: at most {MAX_CHARS} characters")
    if len(normalise_question(text)) < MIN_CHARS:
        raise InvalidQueryError(f"question: at least {MIN_CHARS} letters or digits")
    return text


def _untagged(question: str) -> str:
    """The question without the prompt's own tags: it cannot close <question> and speak as the site."""
    return re.sub(r"</?\s*(question|paper)\s*>", "", question, flags=re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class AskPrompt:
    version: str
    system: str
    context: str  # with {title} {authors} {context_kind} {text} {question}


@lru_cache
def load_ask_prompt() -> AskPrompt:
    body = "\n".join(line for line in PROMPT_FILE.read_text("utf-8").splitlines() if not line.startswith("#"))
    _, system, context = re.split(r"^\[(?:system|context)\]\s*$", body, flags=re.MULTILINE)
    return AskPrompt(PROMPT_VERSION, system.strip(), context.strip())


@dataclass(frozen=True, slots=True)
class AskJob:
    """Everything a generation needs, read from the database before it starts."""

    arxiv_id: str
    version: int | None
    title: str
    authors: str
    abstract: str
    question: str
    full_text: bool  # the paper's FAQ was written from its PDF
    answer_id: int | None = None  # None: the reader's own model, nothing stored
    reader: ReaderLLM | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class AnswerPlan:
    """How a reader follows an answer: `done` already, `live` in this process, or `poll` its row."""

    done: AnswerState | None = None
    live: LiveAnswer | None = None
    poll: int | None = None


_live: dict[int, LiveAnswer] = {}
_claiming = threading.Lock()  # finding, claiming and registering a live answer: one request at a time


@lru_cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=8, thread_name_prefix="ask")


def open_answer(
    settings: Settings, *, arxiv_id: str, question: str, client_address: str, reader: ReaderLLM | None
) -> AnswerPlan:
    """A reader asks: the stored answer, one being written, or a new generation (within the limits)."""
    question = check_question(question)
    with session_scope(settings) as session:
        paper = stored_paper(session, arxiv_id)
        job = _job(session, paper, question, reader)
        if reader is not None:
            live = LiveAnswer(model=reader.model, shared=False)
            _pool().submit(generate_answer, settings, job, live)
            return AnswerPlan(live=live)
        if not llm_configured(settings):
            raise NoModelError("no language model is configured here: give your own in the site's settings")
        with _claiming:
            return _open_shared(session, settings, paper, job, requester=client_key(client_address))


def _job(session: Session, paper: Paper, question: str, reader: ReaderLLM | None) -> AskJob:
    full = session.scalar(
        select(Summary.id).where(Summary.paper_id == paper.id, Summary.context == "full text").limit(1)
    )
    return AskJob(
        paper.arxiv_id, paper.version, paper.title, ", ".join(paper.authors), paper.abstract, question,
        full_text=full is not None and not is_venue_id(paper.arxiv_id), reader=reader,
    )  # fmt: skip


def _open_shared(
    session: Session, settings: Settings, paper: Paper, job: AskJob, *, requester: str
) -> AnswerPlan:
    model, key, now = str(settings.llm_model), question_key(job.question), dt.datetime.now(dt.UTC)
    where = (Answer.paper_id == paper.id, Answer.model == model, Answer.prompt_version == PROMPT_VERSION)
    row = session.scalar(select(Answer).where(*where, Answer.question_key == key))
    if row is None:
        _check_limits(session, settings, requester=requester, now=now)
        values = {
            "paper_id": paper.id, "model": model, "prompt_version": PROMPT_VERSION, "question_key": key,
            "question": job.question, "status": "pending", "answer": "", "requester": requester,
            "prompt_tokens": 0, "completion_tokens": 0, "created_at": now, "updated_at": now,
        }  # fmt: skip
        session.execute(dialect_insert(session, Answer).values(**values).on_conflict_do_nothing())
        row = session.scalar(select(Answer).where(*where, Answer.question_key == key))
        assert row is not None
    if row.status == "ready":
        return AnswerPlan(done=_state_of(row))
    if row.id in _live:
        return AnswerPlan(live=_live[row.id])
    if _claim(session, row.id, now):
        session.commit()
        live = _live[row.id] = LiveAnswer(model=model, shared=True)
        _pool().submit(generate_answer, settings, replace(job, answer_id=row.id), live)
        return AnswerPlan(live=live)
    return AnswerPlan(done=_state_of(row)) if row.status == "failed" else AnswerPlan(poll=row.id)


def _claim(session: Session, answer_id: int, now: dt.datetime) -> bool:
    """Take an answer to generate: new, lost by a process that died, or failed long enough ago."""
    lost, cooled = now - dt.timedelta(seconds=LOST_AFTER), now - dt.timedelta(seconds=FAILED_RETRY_AFTER)
    result = session.execute(
        update(Answer)
        .where(
            Answer.id == answer_id,
            (Answer.status == "pending")
            | ((Answer.status == "running") & (Answer.updated_at < lost))
            | ((Answer.status == "failed") & (Answer.updated_at < cooled)),
        )
        .values(status="running", answer="", error=None, updated_at=now)
        # Not evaluated against the loaded row: SQLite hands its times back naive, and comparing
        # them with `now` raised (a 500 on every later ask of a failed or running answer).
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def _check_limits(session: Session, settings: Settings, *, requester: str, now: dt.datetime) -> None:
    midnight = dt.datetime.combine(now.date(), dt.time(), dt.UTC)
    retry = int((midnight + dt.timedelta(days=1) - now).total_seconds()) + 1
    today = select(func.count()).select_from(Answer).where(Answer.updated_at >= midnight)
    if (session.scalar(today) or 0) >= settings.ask_daily_limit:
        raise SummaryLimitError(
            "today's budget of new answers is spent; answers already given stay available (or use your own key)",
            retry_after=retry,
        )
    if (session.scalar(today.where(Answer.requester == requester)) or 0) >= settings.ask_per_ip_limit:
        raise SummaryLimitError(
            "you have asked many new questions today; ask again tomorrow", retry_after=retry
        )


def _state_of(row: Answer) -> AnswerState:
    return AnswerState(row.status, row.answer, row.model, True, row.context, row.error)


def read_answer(settings: Settings, answer_id: int) -> AnswerState | None:
    with session_scope(settings) as session:
        row = session.get(Answer, answer_id)
        return None if row is None else _current(row)


def peek_answer(session: Session, settings: Settings, *, arxiv_id: str, question: str) -> AnswerState:
    """The stored answer to this question (normalised) by the configured model, starting nothing;
    NotFoundError when nobody asked it (POST asks)."""
    question = check_question(question)
    paper = stored_paper(session, arxiv_id)
    row = session.scalar(
        select(Answer).where(
            Answer.paper_id == paper.id, Answer.model == str(settings.llm_model),
            Answer.prompt_version == PROMPT_VERSION, Answer.question_key == question_key(question),
        )
    )  # fmt: skip
    if row is None:
        raise NotFoundError("nobody has asked this question of this paper yet: POST it to ask")
    return _current(row)


def _current(row: Answer) -> AnswerState:
    state = _state_of(row)
    stale = (dt.datetime.now(dt.UTC) - as_utc(row.updated_at)).total_seconds() > LOST_AFTER
    if not state.done and stale:
        return replace(state, status="failed", error="the answer was interrupted: ask again")
    return state


async def follow_answer(settings: Settings, plan: AnswerPlan) -> AsyncIterator[AnswerState]:
    """The states of an answer until it is done, whichever way the plan says to follow it."""
    if plan.done is not None:
        yield plan.done
    elif plan.live is not None:
        async for state in plan.live.follow():
            yield state
    elif plan.poll is not None:
        last: AnswerState | None = None
        deadline = time.monotonic() + settings.summary_deadline + LOST_AFTER
        while time.monotonic() < deadline:
            found = await to_thread.run_sync(read_answer, settings, plan.poll)
            state = found or AnswerState("failed", "", "", True, error="the answer was deleted: ask again")
            if state != last:
                yield state
                last = state
            if state.done:
                return
            await asyncio.sleep(FLUSH_EVERY / 2)


def generate_answer(
    settings: Settings, job: AskJob, live: LiveAnswer, *, client: LLMClient | None = None
) -> str:
    """Write one answer, streaming it to `live` (and to its row when shared); its final status.

    A reader's own model's answer (not shared, not stored) stops once nobody follows it: it held one
    of the pool's threads, which shared answers wait for, as long as the model stalled."""
    private = job.reader is not None
    bounds = Bounds(settings, abandoned=(lambda: live.abandoned) if private else None)
    writer = _RowWriter(settings, job.answer_id) if job.answer_id is not None else None
    own = client is None
    try:
        kind, body = _context(settings, job)
        live.update(context=kind)
        client = client or generation_client(settings, job.reader, bounds)
        prompt = load_ask_prompt()
        context = prompt.context.format(
            title=job.title,
            authors=job.authors,
            context_kind=kind,
            text=body,
            question=_untagged(job.question),
        )
        messages = [{"role": "system", "content": prompt.system}, {"role": "user", "content": context}]

        def on_delta(piece: str) -> None:
            bounds.piece(piece)
            live.append(piece.replace("\x00", ""))
            if writer is not None:
                writer.progress(live.state().text, context=kind)

        done = client.stream(messages, on_delta=on_delta)
        if done.completion_tokens > bounds.max_tokens:
            reason = f"the answer ran past the {bounds.max_tokens} tokens allowed"
            raise BoundExceededError(reason, reason=reason)
        text = done.text.replace("\x00", "")
        if writer is not None:
            writer.write(
                status="ready", answer=text, context=kind, tokens=(done.prompt_tokens, done.completion_tokens)
            )
        live.update(status="ready", text=text)
        return "ready"
    except Exception as exc:
        # An LLMError's message is one line without the key (client.py); a reader's own model's also
        # names their host, which is theirs to know, not this server's log's: its type only.
        if isinstance(exc, LLMError):
            said = type(exc).__name__ if private else str(exc)
            log.warning("answer failed", extra={"answer_id": job.answer_id, "error": said})
        else:
            log.exception("answer failed unexpectedly", extra={"answer_id": job.answer_id})
        reason = public_reason(exc, own=private)
        if writer is not None:
            writer.write(status="failed", answer=live.state().text, error=reason)
        live.update(status="failed", error=reason)
        return "failed"
    finally:
        if job.answer_id is not None:
            _live.pop(job.answer_id, None)
        if own and isinstance(client, OpenAICompatibleClient):
            client.close()


_full_texts: TTLCache[tuple[str, int | None], str | None] = TTLCache(maxsize=16, ttl=3600)
_texts_lock = threading.Lock()


def _context(settings: Settings, job: AskJob) -> tuple[str, str]:
    """("full text", the PDF's text) when the FAQ was written from it and it can be had again, else
    ("abstract", the abstract). Texts are kept an hour: questions on a paper come in bursts."""
    if not (job.full_text and settings.summary_full_text):
        return "abstract", job.abstract
    key = (job.arxiv_id, job.version)
    with _texts_lock:
        found = _full_texts.get(key, "")
    if found == "":
        url = f"{settings.arxiv_pdf_url.rstrip('/')}/{job.arxiv_id}" + (
            f"v{job.version}" if job.version else ""
        )
        with ArxivClient.from_settings(settings, limiter=limiter_for(settings)) as arxiv:
            found = fetch_full_text(arxiv, url, token_budget=settings.summary_context_tokens).text
        with _texts_lock:
            _full_texts[key] = found
    return ("full text", found) if found else ("abstract", job.abstract)


class _RowWriter:
    """Writes a shared answer's progress to its row (throttled) for readers in other processes."""

    def __init__(self, settings: Settings, answer_id: int):
        self.settings, self.answer_id, self.last = settings, answer_id, time.monotonic()

    def progress(self, text: str, *, context: str) -> None:
        if time.monotonic() - self.last >= FLUSH_EVERY:
            self.write(status="running", answer=text, context=context)

    def write(
        self, *, status: str, answer: str, tokens: tuple[int, int] = (0, 0), **extra: str | None
    ) -> None:
        self.last = time.monotonic()
        values: dict[str, object] = {
            "status": status,
            "answer": answer,
            "updated_at": dt.datetime.now(dt.UTC),
        }
        if tokens != (0, 0):
            values |= {"prompt_tokens": tokens[0], "completion_tokens": tokens[1]}
        with session_scope(self.settings) as session:
            session.execute(update(Answer).where(Answer.id == self.answer_id).values(**values, **extra))
