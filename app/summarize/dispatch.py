"""How a summary reaches whoever generates it: the use cases behind "open the FAQ" and pregeneration.

With Redis, a Celery worker on the `summarize` queue generates it (today's papers first, by
priority), sent by name through app.jobs. In the embedded default, a small thread pool in this
process does: not the request's own thread, so either way the generation does not depend on the
reader's connection. workers/summaries.py only wraps `generate_summary` as the `summarize.paper` task.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import SummaryLimitError
from app.jobs import jobs
from app.store.db import session_scope
from app.store.listings import CategoryQuery, day_listing
from app.store.models import Paper
from app.summarize.generate import generate_summary
from app.summarize.service import (
    CLAIMING,
    FaqView,
    client_key,
    extractive_view,
    find_summary,
    generating,
    llm_configured,
    priority_of,
    prompt_for,
    release_abandoned,
    request_summary,
    view_of,
)

SUMMARIZE_TASK = "summarize.paper"
STALE_MARGIN = 1.0  # seconds after a heartbeat would go stale before a running summary is looked at again
log = logging.getLogger(__name__)


@lru_cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="summarize")


def dispatch_summary(settings: Settings, summary_id: int, *, priority: int) -> None:
    if settings.redis_url:
        jobs().send(SUMMARIZE_TASK, summary_id, priority=priority)
    else:
        _pool().submit(generate_summary, settings, summary_id)


def open_faq(
    session: Session, settings: Settings, *, paper: Paper, lang: str, client_address: str | None
) -> FaqView:
    """A reader opens a paper's FAQ: the cached one, or a new generation queued (within the limits).

    Commits, so that the worker (another process or thread) sees the pending row.
    """
    if not llm_configured(settings):
        return extractive_view(settings, paper, lang)
    with CLAIMING:
        try:
            row, enqueue = request_summary(
                session, settings, paper=paper, lang=lang, requester=client_key(client_address)
            )
            priority = priority_of(session, paper.id) if enqueue else 0
            session.commit()
        except BaseException:
            session.rollback()  # and the advisory lock of PostgreSQL with it
            raise
    if enqueue:
        dispatch_summary(settings, row.id, priority=priority)
    return view_of(session, row, prompt_for(settings, lang))


def peek_faq(session: Session, settings: Settings, *, paper: Paper, lang: str) -> FaqView | None:
    """The paper's FAQ as it stands, starting nothing: None when none was ever asked for."""
    if not llm_configured(settings):
        return extractive_view(settings, paper, lang)
    row = find_summary(session, settings, paper=paper, lang=lang)
    return None if row is None else view_of(session, row, prompt_for(settings, lang))


def revive_abandoned(settings: Settings, summary_ids: list[int]) -> list[int]:
    """Start over those of these summaries whose generating process stopped beating (a reader
    follows them, so they go first); returns the ids this call sent again.

    Taking them back is atomic (`release_abandoned`): of the web processes and catch-up rounds that
    notice one, a single one sends it, and the readers see it pending again, not stuck for good.
    """
    with session_scope(settings) as session:
        released, _ = release_abandoned(session, settings, ids=summary_ids)
    for summary_id in released:
        dispatch_summary(settings, summary_id, priority=0)
    return released


def resume_in_process(settings: Settings) -> None:
    """The embedded pool's catch-up at start, as a worker's (workers/catchup.py) with Redis.

    A process killed while its pool generated left those summaries running: generated again here,
    at once when their heartbeat is stale already, else when it would be (a live process elsewhere
    keeps beating, and nothing happens). In a thread: the database may be away at start.
    """
    if settings.redis_url or not llm_configured(settings):
        return
    threading.Thread(target=_resume, args=(settings,), name="summaries-resume", daemon=True).start()


def _resume(settings: Settings) -> None:
    try:
        with session_scope(settings) as session:
            now = dt.datetime.now(dt.UTC)
            released, _ = release_abandoned(session, settings, now=now)
            running = generating(session, settings, now=now)
    except Exception:  # the database away: a reader's request or stream revives them later
        log.warning("resuming summaries left running failed", exc_info=True)
        return
    for summary_id in released:
        dispatch_summary(settings, summary_id, priority=0)
    for summary_id, left in running.items():
        timer = threading.Timer(left + STALE_MARGIN, _revive_quietly, args=(settings, summary_id))
        timer.daemon = True
        timer.start()


def _revive_quietly(settings: Settings, summary_id: int) -> None:
    try:
        revive_abandoned(settings, [summary_id])
    except Exception:  # the database away: a reader's request or stream revives it later
        log.warning("reviving a summary left running failed", exc_info=True)


def pregenerate_summaries(settings: Settings, *, category: str, day: dt.date) -> int:
    """Queue FAQs for the first SUMMARY_PREGENERATE_TOP new papers of a day (off by default).

    They count against the daily budget like any generation; returns how many were queued.
    """
    top = settings.summary_pregenerate_top
    if not top or not llm_configured(settings):
        return 0
    queued: list[int] = []
    with CLAIMING, session_scope(settings) as session:
        listed = [p for p in day_listing(session, CategoryQuery((category,)), day=day) if p.section == "new"]
        for item in listed[:top]:
            try:
                row, enqueue = request_summary(
                    session, settings, paper=item.paper, lang="en", requester="pregenerate", per_client=False
                )
            except SummaryLimitError:
                break
            if enqueue:
                queued.append(row.id)
    for summary_id in queued:
        dispatch_summary(settings, summary_id, priority=0)
    return len(queued)
