"""The `summarize.paper` task, and how a request hands a summary to it.

With Redis, a Celery worker on the `summarize` queue generates it (today's papers first, by
priority). In the embedded default, a small thread pool in the web process does: either way the
generation does not depend on the reader's connection.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from sqlalchemy.orm import Session

from app.config import Settings, get_settings
from app.store.models import Paper
from app.summarize.generate import generate_summary
from app.summarize.service import (
    FaqView,
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
