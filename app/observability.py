"""Observability at the edge: request ids in logs and headers, Prometheus metrics, readiness.

Counts that several processes share (fetches, summaries, tokens, queue depth) are read from the
database and Redis at scrape time, so every web process reports the same, true numbers; request
latency is this process's own.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select, text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings, get_settings
from app.store.db import session_scope
from app.store.models import Embedding, FetchLog, Paper, Summary

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
_VALID_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
TASK_STATS_KEY = "coolpapers:metrics:tasks"

REGISTRY = CollectorRegistry(auto_describe=True)
REQUEST_SECONDS = Histogram(
    "coolpapers_http_request_duration_seconds",
    "Time to answer a request, by route",
    ["method", "route", "status"],
    registry=REGISTRY,
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
REQUESTS = Counter(
    "coolpapers_http_requests", "Requests answered", ["method", "route", "status"], registry=REGISTRY
)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class RequestMetrics:
    """Give each request an id (or keep a sane incoming X-Request-ID) and time it by route.

    The time to the response's start goes out as `Server-Timing: app;dur=<ms>`.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        started, status = time.perf_counter(), 500

        async def tagged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # Server-Timing: the time to the first byte in this process (browsers' dev tools show it).
                spent = f"app;dur={(time.perf_counter() - started) * 1000:.1f}".encode()
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", rid.encode()),
                    (b"server-timing", spent),
                ]
            await send(message)

        try:
            await self.app(scope, receive, tagged)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            labels = (scope["method"], route, str(status))
            REQUEST_SECONDS.labels(*labels).observe(time.perf_counter() - started)
            REQUESTS.labels(*labels).inc()
            request_id.reset(token)


class SharedCounts:
    """Collector of numbers every process shares: from the database and Redis, at scrape time."""

    def __init__(self, settings_of: Callable[[], Settings] = get_settings):
        self._settings_of = settings_of

    def describe(self) -> list[Any]:
        return []  # registering must not query anything (it happens at import)

    def collect(self) -> Any:
        settings = self._settings_of()
        yield from _database_metrics(settings)
        yield from _queue_metrics(settings)
        yield from _task_metrics(settings)


def _gauge(name: str, doc: str, labels: list[str], rows: list[tuple[list[str], float]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for values, value in rows:
        family.add_metric(values, value)
    return family


def _database_metrics(settings: Settings) -> Any:
    with session_scope(settings) as session:
        papers = session.scalar(select(func.count()).select_from(Paper)) or 0
        vectors = session.scalar(select(func.count()).select_from(Embedding)) or 0
        fetches = session.execute(
            select(FetchLog.http_status, FetchLog.error.is_not(None), func.count()).group_by(
                FetchLog.http_status, FetchLog.error.is_not(None)
            )
        ).all()
        summaries = session.execute(
            select(Summary.model, Summary.status, func.count(), func.sum(Summary.prompt_tokens), func.sum(Summary.completion_tokens))
            .group_by(Summary.model, Summary.status)
        ).all()  # fmt: skip
    yield _gauge("coolpapers_papers", "Papers stored", [], [([], papers)])
    yield _gauge("coolpapers_vectors", "Paper vectors stored", [], [([], vectors)])
    yield _gauge(
        "coolpapers_fetches", "arXiv fetches by HTTP status and result", ["status", "result"],
        [([str(s or "none"), "error" if failed else "ok"], n) for s, failed, n in fetches],
    )  # fmt: skip
    yield _gauge("coolpapers_summaries", "Summaries by model and status", ["model", "status"],
                 [([m, s], n) for m, s, n, _, _ in summaries])  # fmt: skip
    tokens = [([m, "prompt"], float(p or 0)) for m, _, _, p, _ in summaries]
    tokens += [([m, "completion"], float(c or 0)) for m, _, _, _, c in summaries]
    yield _gauge(
        "coolpapers_llm_tokens", "LLM tokens spent, by model and kind", ["model", "kind"], _sum_rows(tokens)
    )
    spend = (
        sum(v for (_, kind), v in _sum_rows(tokens) if kind == "prompt") * settings.llm_price_prompt_per_mtok
    )
    spend += (
        sum(v for (_, kind), v in _sum_rows(tokens) if kind == "completion")
        * settings.llm_price_completion_per_mtok
    )
    yield _gauge(
        "coolpapers_llm_spend",
        "LLM spend at the configured prices (per million tokens)",
        [],
        [([], spend / 1e6)],
    )


def _sum_rows(rows: list[tuple[list[str], float]]) -> list[tuple[list[str], float]]:
    totals: dict[tuple[str, ...], float] = {}
    for labels, value in rows:
        totals[tuple(labels)] = totals.get(tuple(labels), 0.0) + value
    return [(list(k), v) for k, v in totals.items()]


def _queue_metrics(settings: Settings) -> Any:
    from workers.status import queue_depths

    depths = queue_depths(settings)
    yield _gauge("coolpapers_queue_depth", "Tasks waiting per queue", ["queue"],
                 [([q, ], float(d)) for q, d in depths.items() if d is not None])  # fmt: skip


def _task_metrics(settings: Settings) -> Any:
    stats: dict[bytes, bytes] = {}
    if settings.redis_url:
        try:
            stats = redis.Redis.from_url(settings.redis_url, socket_timeout=1).hgetall(TASK_STATS_KEY)  # type: ignore[assignment]
        except redis.RedisError:
            stats = {}
    rows = []
    for key, value in stats.items():
        task, _, state = key.decode().rpartition(":")
        rows.append(([task, state], float(value)))
    yield _gauge(
        "coolpapers_task_runs",
        "Task runs by task and outcome (workers report to Redis)",
        ["task", "outcome"],
        rows,
    )


REGISTRY.register(SharedCounts())


def metrics_text() -> bytes:
    return generate_latest(REGISTRY)


def readiness(settings: Settings, *, index_loaded: bool | None) -> tuple[bool, dict[str, str]]:
    """Database and Redis answer; the index is loaded when there are vectors to load."""
    checks: dict[str, str] = {}
    try:
        with session_scope(settings) as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if settings.redis_url:
        try:
            redis.Redis.from_url(settings.redis_url, socket_timeout=1, socket_connect_timeout=1).ping()
            checks["redis"] = "ok"
        except redis.RedisError as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    else:
        checks["redis"] = "not configured (tasks in-process)"
    checks["index"] = {True: "loaded", False: "missing", None: "empty (nothing embedded yet)"}[index_loaded]
    ready = (
        checks["database"] == "ok" and not checks["redis"].startswith("error") and index_loaded is not False
    )
    return ready, checks
