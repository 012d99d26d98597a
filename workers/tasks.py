"""Celery tasks. They take ids or plain values, are idempotent, and retry only transient errors."""

from __future__ import annotations

import datetime as dt
import logging
from functools import lru_cache
from typing import Any

import redis
from celery import Task
from celery.result import AsyncResult
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.arxiv.fetch import RateLimiter
from app.arxiv.ratelimit import limiter_for
from app.config import Settings, get_settings
from app.errors import ArxivUnavailableError, CoolPapersError, StaleFeedError, first_line
from app.jobs import jobs
from app.store.categories import categories_to_fetch
from app.store.completeness import check_completeness, days_to_check
from app.store.db import session_scope
from app.store.ingest import fetch_details, ingest_live
from app.summarize.dispatch import pregenerate_summaries
from app.summarize.tldr import TLDR_DAY_TASK
from workers.celery_app import app

log = logging.getLogger(__name__)
# Worth another try later: arXiv away or not rebuilt yet, the database or Redis away. Nothing else.
TRANSIENT_ERRORS = (
    ArxivUnavailableError,
    StaleFeedError,
    OperationalError,
    redis.ConnectionError,
    redis.TimeoutError,
)


@lru_cache
def _limiter(redis_url: str | None, interval: float) -> RateLimiter:
    # One limiter (and one Redis connection pool) per worker process.
    return limiter_for(get_settings())


class TransientRetryTask(Task):  # type: ignore[misc]
    """Retries TRANSIENT_ERRORS only, with Celery's exponential backoff and full jitter."""

    autoretry_for = TRANSIENT_ERRORS
    # The app's own errors (a 404, an ill-formed feed, a limit) are what a task may meet: Celery logs
    # them without a traceback (50 lines each, at ERROR), and `on_failure` says them in one line.
    throws = (CoolPapersError,)
    max_retries = 6
    retry_backoff = True  # 1, 2, 4 ... units of TASK_RETRY_BACKOFF seconds, see `retry`
    retry_backoff_max = 60  # units: an hour at the default TASK_RETRY_BACKOFF of 60 s
    retry_jitter = True

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        if isinstance(exc, CoolPapersError):
            log.warning(
                "task failed", extra={"task": self.name, "task_id": task_id, "error": first_line(exc)}
            )

    def retry(
        self, *args: Any, exc: BaseException | None = None, countdown: float | None = None, **options: Any
    ) -> Any:
        # Kept by hand: Celery fixes its backoff unit at import and knows nothing of Retry-After.
        if countdown is not None:
            asked = float(getattr(exc, "retry_after", None) or 0)
            countdown = max(countdown * get_settings().task_retry_backoff, asked)
        return super().retry(*args, exc=exc, countdown=countdown, **options)


@app.task(name="fetch.category", base=TransientRetryTask)
def fetch_category(category: str, day: str | None = None) -> dict[str, Any]:
    """Fetch, parse and store one category's day; then ask for the new papers' details."""
    settings = get_settings()
    expect = dt.date.fromisoformat(day) if day else None
    report = ingest_live(
        settings,
        category=category,
        expect_day=expect,
        limiter=_limiter(settings.redis_url, settings.arxiv_min_interval),
    )
    if report.changed:
        fetch_details_task.delay(list(report.changed))
        embed_papers.delay(None)  # everything unembedded: cheap when nothing is, and catches up after a crash
    if report.day is not None and report.new:
        pregenerate_summaries(settings, category=category, day=report.day)
        if settings.tldr_top:  # the day's top papers get their TL;DR line, on the summarize queue
            jobs().send(TLDR_DAY_TASK, category, report.day.isoformat())
    if report.day is not None and report.listings:
        with session_scope(settings) as session:
            days = days_to_check(session, category=category, day=report.day)
        for checked in days:
            completeness_task.delay(category, checked.isoformat())
    return {"category": category, "summary": report.summary(), "day": str(report.day or "")}


@app.task(name="fetch.details", base=TransientRetryTask)
def fetch_details_task(arxiv_ids: list[str]) -> dict[str, Any]:
    """Fill in comments, journal refs and submission dates from the API (idempotent)."""
    settings = get_settings()
    changed = fetch_details(
        settings, arxiv_ids=arxiv_ids, limiter=_limiter(settings.redis_url, settings.arxiv_min_interval)
    )
    return {"requested": len(arxiv_ids), "updated": changed}


@app.task(name="fetch.completeness", base=TransientRetryTask)
def completeness_task(category: str, day: str) -> dict[str, Any]:
    """Compare a stored day with the arXiv API's papers of that day, list the missing ones."""
    settings = get_settings()
    result = check_completeness(
        settings,
        category=category,
        day=dt.date.fromisoformat(day),
        limiter=_limiter(settings.redis_url, settings.arxiv_min_interval),
    )
    return {
        "category": category,
        "day": day,
        "expected": result.expected,
        "missing": result.missing,
        "repaired": result.repaired,
        "alert": result.alert,
    }


@app.task(name="fetch.scheduled")
def fetch_scheduled() -> list[str]:
    """A fetch round: the configured categories plus those readers opened lately."""
    return enqueue_round()


def enqueue_round() -> list[str]:
    """Enqueue `fetch.category` for every category of the round; returns the task ids."""
    return [result.id for _, result in send_round()]


def send_round() -> list[tuple[str, AsyncResult]]:
    """`fetch.category` for every category of the round: (category, its result) each; without Redis
    the tasks have run when this returns, and their results say how each went."""
    settings = get_settings()
    with session_scope(settings) as session:
        categories = round_categories(session, settings)
    return [(category, fetch_category.delay(category)) for category in categories]


def round_categories(session: Session, settings: Settings) -> list[str]:
    """The categories of a fetch round: the configured ones, and those readers opened lately."""
    since = dt.date.today() - dt.timedelta(days=settings.follow_opened_days)
    return categories_to_fetch(
        session, configured=settings.arxiv_categories, since=since if settings.follow_opened_days else None
    )


@app.task(name="embed.papers", base=TransientRetryTask)
def embed_papers(paper_ids: list[int] | None = None) -> dict[str, Any]:
    """Embed papers without a vector (these ids, or all), then bring the FAISS index up to date."""
    from app.search.refresh import embed_and_index

    report = embed_and_index(get_settings(), paper_ids=paper_ids)
    return {"embedded": report.embedded, "remaining": report.remaining, "summary": report.summary()}


@app.task(name="embed.reindex")
def reindex_task() -> dict[str, Any]:
    """Rebuild the index from the embeddings table."""
    from app.search.refresh import reindex

    meta = reindex(get_settings())
    return {"count": meta.count if meta else 0, "kind": meta.kind if meta else None}
