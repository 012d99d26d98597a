"""The life of a short generated text (a TL;DR, a translation): asked for, claimed, written or failed.

It is the FAQ's life (app/summarize/service.py) for a text written in one call: a row per key holds
its status (pending -> running -> ready | failed), created within the summary limits
(`check_limits`: TL;DRs and translations count against SUMMARY_DAILY_LIMIT and SUMMARY_PER_IP_LIMIT
like FAQs), claimed by one worker with an atomic UPDATE, and regenerated only after a failure's
cool-down. Who writes it: a Celery worker on the `summarize` queue with Redis, else a small thread
pool of this process, so the reader's request never waits for the model.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar, cast

import httpx2
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import LLMError
from app.jobs import jobs
from app.store.db import session_scope
from app.store.models import Paper, Tldr, Translation
from app.store.papers import as_utc
from app.store.upsert import dialect_insert
from app.summarize.client import LLMClient, OpenAICompatibleClient
from app.summarize.generate import Bounds, DeadlineTransport, public_reason
from app.summarize.service import CLAIMING, FAILED_RETRY_AFTER, LOST_AFTER, check_limits, take_back

# Reasoning models served raw (DeepSeek-R1 and its distills on Ollama or vLLM) think aloud in the
# answer between <think> tags: never part of a TL;DR or a translation. An unclosed block is all thinking.
_REASONING_RE = re.compile(r"<(think|thinking|reasoning)>.*?(?:</\1>|\Z)", re.IGNORECASE | re.DOTALL)

Generated = Tldr | Translation
GeneratedModel = type[Tldr] | type[Translation]


def without_reasoning(answer: str) -> str:
    """The model's answer without its <think> blocks."""
    return _REASONING_RE.sub(" ", answer)


log = logging.getLogger(__name__)


def find_row(session: Session, model: GeneratedModel, key: dict[str, Any]) -> Generated | None:
    found = session.scalar(
        select(model).where(*(getattr(model, name) == value for name, value in key.items()))
    )
    return cast("Generated | None", found)


def request_row(
    session: Session,
    settings: Settings,
    model: GeneratedModel,
    *,
    key: dict[str, Any],
    requester: str,
    per_client: bool = True,
) -> tuple[Generated, bool]:
    """The row for `key`, created if new (within the limits: SummaryLimitError); and whether to enqueue it.

    Written texts are free. A failed one is asked for again once its cool-down is over; a pending one
    untouched for LOST_AFTER seconds, or a running one past the task time limit, lost its worker.
    """
    now = dt.datetime.now(dt.UTC)
    row = find_row(session, model, key)
    if row is None:
        check_limits(session, settings, requester=requester if per_client else None, now=now)
        values = {**key, "status": "pending", "requester": requester, "attempts": 0,
                  "created_at": now, "updated_at": now}  # fmt: skip
        # DO NOTHING: two readers asking at once create one row, and so one generation.
        session.execute(dialect_insert(session, model).values(**values).on_conflict_do_nothing())
        session.flush()
        created = find_row(session, model, key)
        assert created is not None
        return created, True
    if row.status == "failed":
        if retry_after(row, now) > 0:
            return row, False
        check_limits(session, settings, requester=requester if per_client else None, now=now)
        row.status, row.error, row.updated_at, row.requester = "pending", None, now, requester
        session.flush()
        return row, True
    idle = (now - as_utc(row.updated_at)).total_seconds()
    lost = (row.status == "pending" and idle > LOST_AFTER) or (
        row.status == "running" and idle > settings.task_time_limit
    )
    return row, lost


G = TypeVar("G", Tldr, Translation)


def open_row(session: Session, request: Callable[[], tuple[G, bool]], send: Callable[[int], None]) -> G:
    """A reader asks for a text: `request()` finds the written row or makes a pending one (within the
    limits), committed so that the worker (another process or thread) sees it; `send` queues a new one."""
    with CLAIMING:
        try:
            row, enqueue = request()
            session.commit()
        except BaseException:
            session.rollback()  # and the advisory lock of PostgreSQL with it
            raise
    if enqueue:
        send(row.id)
    return row


Ask = tuple[list[dict[str, str]], int]  # the messages of one call, and its max_tokens


def write_row(
    settings: Settings,
    model: type[G],
    row_id: int,
    *,
    kind: str,
    ask: Callable[[G, Paper], Ask],
    read: Callable[[str], dict[str, object]],
    client: LLMClient | None = None,
    bump_revision: bool = False,
) -> str:
    """Claim `row_id`, ask the model once (`ask` builds the call from the row and its paper), and store
    what `read` makes of the answer (LLMError when it is unusable); the final status ("skipped" when
    someone else has it). `bump_revision`: pages showing the paper are rendered again."""
    with session_scope(settings) as session:
        if not claim_row(session, settings, model, row_id):
            return "skipped"
        row = session.get(model, row_id)
        paper = session.get(Paper, row.paper_id) if row else None
        if row is None or paper is None:
            return "skipped"  # deleted meanwhile: nothing to do
        messages, max_tokens = ask(row, paper)
        paper_id = paper.id
    try:
        with bounded_client(settings, client) as llm:
            done = llm.complete(messages, max_tokens=max_tokens)
        values = read(without_reasoning(done.text))
        values |= {"prompt_tokens": done.prompt_tokens, "completion_tokens": done.completion_tokens}
    except LLMError as exc:
        log.warning(f"{kind} failed", extra={f"{kind}_id": row_id, "error": str(exc)})
        store_failure(settings, model, row_id, public_reason(exc))
        return "failed"
    except Exception as exc:  # a bug or an outage: the row must not stay "running"; raised on
        log.exception(f"{kind} failed unexpectedly", extra={f"{kind}_id": row_id})
        store_failure(settings, model, row_id, public_reason(exc))
        raise
    now = dt.datetime.now(dt.UTC)
    with session_scope(settings) as session:
        session.execute(
            update(model)
            .where(model.id == row_id)
            .values(status="ready", error=None, updated_at=now, **values)
        )
        if bump_revision:
            session.execute(update(Paper).where(Paper.id == paper_id).values(revision=Paper.revision + 1))
    return "ready"


def retry_after(row: Generated, now: dt.datetime | None = None) -> int:
    """Seconds before a failed text may be generated again (0: now, or not failed)."""
    if row.status != "failed":
        return 0
    waited = ((now or dt.datetime.now(dt.UTC)) - as_utc(row.updated_at)).total_seconds()
    return max(int(FAILED_RETRY_AFTER - waited), 0)


def claim_row(session: Session, settings: Settings, model: GeneratedModel, row_id: int) -> bool:
    """Atomically take a row to generate it; False when another worker has it or it is done."""
    now = dt.datetime.now(dt.UTC)
    expired = now - dt.timedelta(seconds=settings.task_time_limit)
    result = session.execute(
        update(model)
        .where(
            model.id == row_id,
            (model.status == "pending") | ((model.status == "running") & (model.claimed_at < expired)),
        )
        .values(status="running", claimed_at=now, updated_at=now, attempts=model.attempts + 1)
    )
    session.flush()
    return bool(getattr(result, "rowcount", 0))


def release_lost(
    session: Session, settings: Settings, model: GeneratedModel, *, now: dt.datetime, queue_busy: bool
) -> tuple[list[int], list[int]]:
    """The rows whose worker is gone, for the catch-up round: (to send again, failed instead).

    A running row claimed over TASK_TIME_LIMIT ago lost its worker (the limit would have ended the
    task): back to pending, or failed with a reason once it lost SUMMARY_ATTEMPTS of them. A pending
    row untouched as long lost its message, unless the summarize queue holds messages (then it waits).
    """
    expired = now - dt.timedelta(seconds=settings.task_time_limit)
    released, failed = take_back(
        session, model, (model.status == "running") & (model.claimed_at < expired), now=now
    )
    waiting: list[int] = []
    if not queue_busy:
        pending = (model.status == "pending") & (model.updated_at < expired) & model.id.not_in(released)
        waiting = list(session.scalars(select(model.id).where(pending)))
    return sorted([*released, *waiting]), failed


def store_failure(settings: Settings, model: GeneratedModel, row_id: int, reason: str) -> None:
    """Mark the row failed with a reason readers may see (never the model's address or body)."""
    with session_scope(settings) as session:
        session.execute(
            update(model)
            .where(model.id == row_id)
            .values(status="failed", error=reason[:2000], updated_at=dt.datetime.now(dt.UTC))
        )


@contextmanager
def bounded_client(settings: Settings, client: LLMClient | None) -> Iterator[LLMClient]:
    """The given client, or the configured model's behind the generation deadline (SUMMARY_DEADLINE),
    closed after the one generation it serves."""
    if client is not None:
        yield client
        return
    transport: httpx2.BaseTransport = DeadlineTransport(Bounds(settings))
    configured = OpenAICompatibleClient.from_settings(settings, transport=transport)
    if configured is None:
        raise LLMError("no LLM is configured (LLM_BASE_URL, LLM_MODEL)")
    with configured:
        yield configured


@lru_cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="generate")


def dispatch(settings: Settings, task: str, row_id: int, run: Callable[[Settings, int], str]) -> None:
    """Have `row_id` generated: the Celery task `task` with Redis, else `run` on this process's pool."""
    if settings.redis_url:
        jobs().send(task, row_id, priority=0)
    else:
        _pool().submit(run, settings, row_id)
