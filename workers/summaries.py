"""The `summarize.paper` task, and how a request hands a summary to it.

With Redis, a Celery worker on the `summarize` queue generates it (today's papers first, by
priority). In the embedded default, a small thread pool in the web process does: either way the
generation does not depend on the reader's connection.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from sqlalchemy.orm import Session

from app.config import Settings, get_settings
from app.store.db import session_scope
from app.store.listings import CategoryQuery, day_listing
from app.store.models import Paper
from app.summarize.generate import generate_summary
from app.summarize.service import (
    FaqView,
    SummaryLimitError,
    client_key,
    extractive_view,
    llm_configured,
    priority_of,
    prompt_for,
    request_summary,
    view_of,
)
from workers.celery_app import app


@app.task(name="summarize.paper", acks_late=True)
def summarize_paper(summary_id: int) -> str:
    """Generate one summary (idempotent: a summary claimed elsewhere or done is skipped)."""
    return generate_summary(get_settings(), summary_id)


@lru_cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="summarize")


def dispatch_summary(settings: Settings, summary_id: int, *, priority: int) -> None:
    if settings.redis_url:
        summarize_paper.apply_async(args=[summary_id], priority=priority)
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
    row, enqueue = request_summary(
        session, settings, paper=paper, lang=lang, requester=client_key(client_address)
    )
    priority = priority_of(session, paper.id) if enqueue else 0
    session.commit()
    if enqueue:
        dispatch_summary(settings, row.id, priority=priority)
    return view_of(session, row, prompt_for(settings, lang))


def pregenerate_summaries(settings: Settings, *, category: str, day: dt.date) -> int:
    """Queue FAQs for the first SUMMARY_PREGENERATE_TOP new papers of a day (off by default).

    They count against the daily budget like any generation; returns how many were queued.
    """
    top = settings.summary_pregenerate_top
    if not top or not llm_configured(settings):
        return 0
    queued: list[int] = []
    with session_scope(settings) as session:
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
