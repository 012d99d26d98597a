"""How a summary reaches whoever generates it: the use cases behind "open the FAQ" and pregeneration.

With Redis, a Celery worker on the `summarize` queue generates it (today's papers first, by
priority), sent by name through app.jobs. In the embedded default, a small thread pool in this
process does: not the request's own thread, so either way the generation does not depend on the
reader's connection. workers/summaries.py only wraps `generate_summary` as the `summarize.paper` task.
"""

from __future__ import annotations

import datetime as dt
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
    FaqView,
    client_key,
    extractive_view,
    find_summary,
    llm_configured,
    priority_of,
    prompt_for,
    request_summary,
    view_of,
)

SUMMARIZE_TASK = "summarize.paper"


@lru_cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="summarize")


def dispatch_summary(settings: Settings, summary_id: int, *, priority: int) -> None:
    if settings.redis_url:
        jobs().send(SUMMARIZE_TASK, summary_id, priority=priority)
    else:
        _pool().submit(generate_summary, settings, summary_id)


# Held from counting today's generations to committing the new row: within one process, requests
# that race for the last places of SUMMARY_PER_IP_LIMIT take them one at a time.
_claiming = threading.Lock()


def open_faq(
    session: Session, settings: Settings, *, paper: Paper, lang: str, client_address: str | None
) -> FaqView:
    """A reader opens a paper's FAQ: the cached one, or a new generation queued (within the limits).

    Commits, so that the worker (another process or thread) sees the pending row.
    """
    if not llm_configured(settings):
        return extractive_view(settings, paper, lang)
    with _claiming:
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


def pregenerate_summaries(settings: Settings, *, category: str, day: dt.date) -> int:
    """Queue FAQs for the first SUMMARY_PREGENERATE_TOP new papers of a day (off by default).

    They count against the daily budget like any generation; returns how many were queued.
    """
    top = settings.summary_pregenerate_top
    if not top or not llm_configured(settings):
        return 0
    queued: list[int] = []
    with _claiming, session_scope(settings) as session:
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
