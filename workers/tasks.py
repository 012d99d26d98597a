"""Celery tasks. They take ids or plain values, are idempotent, and retry only transient errors."""

from __future__ import annotations

import datetime as dt
import logging
import random
from functools import lru_cache
from typing import Any

import redis
from celery import Task
from sqlalchemy.exc import OperationalError

from app.arxiv.fetch import RateLimiter
from app.arxiv.ratelimit import limiter_for
from app.config import get_settings
from app.errors import FetchError, StaleFeedError
from app.store.categories import categories_to_fetch
from app.store.db import session_scope
from app.store.ingest import fetch_details, ingest_live
from workers.celery_app import app
from workers.summaries import pregenerate_summaries

log = logging.getLogger(__name__)
TRANSIENT_STATUSES = frozenset({None, 429, 500, 502, 503, 504})
MAX_RETRIES = 6


@lru_cache
def _limiter(redis_url: str | None, interval: float) -> RateLimiter:
    # One limiter (and one Redis connection pool) per worker process.
    return limiter_for(get_settings())


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, FetchError):
        return exc.status in TRANSIENT_STATUSES
    return isinstance(exc, OperationalError | redis.ConnectionError | redis.TimeoutError | StaleFeedError)


def _backoff(task: Task, exc: BaseException) -> float:
    """Exponential backoff with jitter, at least what arXiv asked for with Retry-After."""
    base: float = min(get_settings().task_retry_backoff * 2 ** int(task.request.retries), 3600)
    asked = float(getattr(exc, "retry_after", None) or 0)
    return float(max(asked, base * random.uniform(0.5, 1.5)))


@app.task(name="fetch.category", bind=True, max_retries=MAX_RETRIES)
def fetch_category(self: Task, category: str, day: str | None = None) -> dict[str, Any]:
    """Fetch, parse and store one category's day; then ask for the new papers' details."""
    settings = get_settings()
    expect = dt.date.fromisoformat(day) if day else None
    try:
        report = ingest_live(
            settings,
            category=category,
            expect_day=expect,
            limiter=_limiter(settings.redis_url, settings.arxiv_min_interval),
        )
    except Exception as exc:
        if _is_transient(exc) and self.request.retries < MAX_RETRIES:
            raise self.retry(exc=exc, countdown=_backoff(self, exc)) from exc
        raise
    if report.changed:
        fetch_details_task.delay(list(report.changed))
        embed_papers.delay(None)  # everything unembedded: cheap when nothing is, and catches up after a crash
    if report.day is not None and report.new:
        pregenerate_summaries(settings, category=category, day=report.day)
    return {"category": category, "summary": report.summary(), "day": str(report.day or "")}


@app.task(name="fetch.details", bind=True, max_retries=MAX_RETRIES)
def fetch_details_task(self: Task, arxiv_ids: list[str]) -> dict[str, Any]:
    """Fill in comments, journal refs and submission dates from the API (idempotent)."""
    settings = get_settings()
    try:
        changed = fetch_details(
            settings, arxiv_ids=arxiv_ids, limiter=_limiter(settings.redis_url, settings.arxiv_min_interval)
        )
    except Exception as exc:
        if _is_transient(exc) and self.request.retries < MAX_RETRIES:
            raise self.retry(exc=exc, countdown=_backoff(self, exc)) from exc
        raise
    return {"requested": len(arxiv_ids), "updated": changed}


@app.task(name="fetch.scheduled")
def fetch_scheduled() -> list[str]:
    """A fetch round: the configured categories plus those readers opened lately."""
    return enqueue_round()


def enqueue_round() -> list[str]:
    """Enqueue `fetch.category` for every category of the round; returns the task ids."""
    settings = get_settings()
    since = dt.date.today() - dt.timedelta(days=settings.follow_opened_days)
    with session_scope(settings) as session:
        categories = categories_to_fetch(
            session,
            configured=settings.arxiv_categories,
            since=since if settings.follow_opened_days else None,
        )
    return [fetch_category.delay(category).id for category in categories]


@app.task(name="embed.papers", bind=True, max_retries=MAX_RETRIES)
def embed_papers(self: Task, paper_ids: list[int] | None = None) -> dict[str, Any]:
    """Embed papers without a vector (these ids, or all), then bring the FAISS index up to date."""
    from app.search.refresh import embed_and_index

    try:
        report = embed_and_index(get_settings(), paper_ids=paper_ids)
    except Exception as exc:
        if _is_transient(exc) and self.request.retries < MAX_RETRIES:
            raise self.retry(exc=exc, countdown=_backoff(self, exc)) from exc
        raise
    return {"embedded": report.embedded, "remaining": report.remaining, "summary": report.summary()}


@app.task(name="embed.reindex")
def reindex_task() -> dict[str, Any]:
    """Rebuild the index from the embeddings table."""
    from app.search.refresh import reindex

    meta = reindex(get_settings())
    return {"count": meta.count if meta else 0, "kind": meta.kind if meta else None}
