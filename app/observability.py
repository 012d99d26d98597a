"""Observability at the edge: request ids in logs and headers, Prometheus metrics, readiness.

Counts that several processes share (fetches, summaries, tokens, queue depth, the backlog) are read
from the database and Redis at scrape time, so every web process reports the same, true numbers.
Request latency is counted per process; with PROMETHEUS_MULTIPROC_DIR set (several uvicorn workers),
each process writes its counts to a file there and a scrape of any process sums them all
(prometheus-client's multiprocess mode), so successive scrapes never go backwards.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from prometheus_client import CollectorRegistry, Histogram, generate_latest, multiprocess, values
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings, get_settings
from app.jobs import TASK_STATS_KEY, queue_depths, redis_client
from app.store.backlog import pipeline_backlog
from app.store.completeness import latest_completeness
from app.store.db import session_scope
from app.store.models import Answer, Embedding, FetchLog, Paper, Summary, Tldr, Translation, Upload

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
_VALID_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")

REGISTRY = CollectorRegistry(auto_describe=True)
# Its `_count` series is the number of requests answered: no separate counter needed.
REQUEST_SECONDS = Histogram(
    "coolpapers_http_request_duration_seconds",
    "Time to answer a request, by route",
    ["method", "route", "status"],
    registry=REGISTRY,
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
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
        token: contextvars.Token[str] | None = request_id.set(rid)
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
        except BaseException:
            # Left set: the 500 handler runs after this, in the same task, and logs the id
            # (the task, one per request, ends right after, so the id goes nowhere else).
            token = None
            raise
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            labels = (scope["method"], route, str(status))
            REQUEST_SECONDS.labels(*labels).observe(time.perf_counter() - started)
            if token is not None:
                request_id.reset(token)


class SharedCounts:
    """Collector of numbers every process shares: from the database and Redis, at scrape time."""

    def __init__(self, settings_of: Callable[[], Settings] = get_settings):
        self._settings_of = settings_of

    def describe(self) -> list[Any]:
        return []  # registering must not query anything (it happens at import)

    def collect(self) -> Any:
        settings = self._settings_of()
        with session_scope(settings) as session:  # one session (one connection) for the whole scrape
            families = [
                *_database_metrics(session, settings),
                *_backlog_metrics(session, settings),
                *_completeness_metrics(session),
            ]
        yield from families
        yield from _queue_metrics(settings)
        yield from _task_metrics(settings)


def _gauge(name: str, doc: str, labels: list[str], rows: list[tuple[list[str], float]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for label_values, value in rows:
        family.add_metric(label_values, value)
    return family


def _database_metrics(session: Session, settings: Settings) -> Any:
    papers = session.scalar(select(func.count()).select_from(Paper)) or 0
    vectors = session.scalar(select(func.count()).select_from(Embedding)) or 0
    fetches = session.execute(
        select(FetchLog.http_status, FetchLog.error.is_not(None), func.count()).group_by(
            FetchLog.http_status, FetchLog.error.is_not(None)
        )
    ).all()
    summaries = session.execute(
        select(Summary.model, Summary.status, func.count()).group_by(Summary.model, Summary.status)
    ).all()  # the tokens they spent: _tokens_spent, with every other generation's
    yield _gauge("coolpapers_papers", "Papers stored", [], [([], papers)])
    yield _gauge("coolpapers_vectors", "Paper vectors stored", [], [([], vectors)])
    yield _gauge(
        "coolpapers_fetches", "arXiv fetches by HTTP status and result", ["status", "result"],
        [([str(s or "none"), "error" if failed else "ok"], n) for s, failed, n in fetches],
    )  # fmt: skip
    yield _gauge("coolpapers_summaries", "Summaries by model and status", ["model", "status"],
                 [([m, s], n) for m, s, n in summaries])  # fmt: skip
    spent = _tokens_spent(session)
    tokens = [([m, kind], float(n)) for m, prompt_n, completion_n in spent
              for kind, n in (("prompt", prompt_n), ("completion", completion_n))]  # fmt: skip
    yield _gauge(
        "coolpapers_llm_tokens", "LLM tokens spent, by model and kind", ["model", "kind"], _sum_rows(tokens)
    )
    prompt = sum(float(p) for _, p, _ in spent)
    completion = sum(float(c) for *_, c in spent)
    spend = prompt * settings.llm_price_prompt_per_mtok + completion * settings.llm_price_completion_per_mtok
    yield _gauge(
        "coolpapers_llm_spend",
        "LLM spend at the configured prices (per million tokens)",
        [],
        [([], spend / 1e6)],
    )


def _tokens_spent(session: Session) -> list[tuple[str, int, int]]:
    """(model, prompt, completion tokens) of every stored generation by this site's models: FAQs,
    answers, TL;DRs, translations, and uploads' FAQs (not a reader's own model's: no requester)."""
    spent: list[tuple[str, int, int]] = []
    for table in (Summary, Answer, Tldr, Translation, Upload):
        query = select(table.model, func.sum(table.prompt_tokens), func.sum(table.completion_tokens))
        if table is Upload:
            query = query.where(Upload.requester.is_not(None))
        rows = session.execute(query.group_by(table.model)).all()
        spent += [(str(model), int(p or 0), int(c or 0)) for model, p, c in rows]
    return spent


BACKLOG_STATES = ("ok", "catching up", "alert")


def _backlog_metrics(session: Session, settings: Settings) -> Any:
    backlog = pipeline_backlog(session, settings)
    yield _gauge("coolpapers_backlog_unembedded", "Papers without a vector", [], [([], backlog.unembedded)])
    yield _gauge(
        "coolpapers_backlog_unembedded_age_seconds",
        "How long the oldest paper without a vector has waited",
        [],
        [([], backlog.waited())],
    )
    yield _gauge(
        "coolpapers_backlog_summaries_stuck",
        "Summaries no worker is generating (claimed or queued longer ago than TASK_TIME_LIMIT)",
        [],
        [([], backlog.summaries_stuck)],
    )
    state = backlog.state()
    yield _gauge(
        "coolpapers_backlog_state",
        "1 for the backlog's state: ok, catching up, alert (BACKLOG_ALERT_SECONDS)",
        ["state"],
        [([name], float(name == state)) for name in BACKLOG_STATES],
    )


def _completeness_metrics(session: Session) -> Any:
    """Each category's latest checked day: the feed against the API (app/store/completeness.py)."""
    days = latest_completeness(session)
    for name, doc, value in (
        ("expected", "Papers the arXiv API lists for the category's latest checked day", "expected"),
        ("stored", "New and cross-listed papers stored for that day", "stored"),
        ("missing", "Papers of that day the feed did not list", "missing"),
        ("repaired", "Missing papers fetched from the API and listed", "repaired"),
        ("unrepaired", "Missing papers still not listed after repair", "unrepaired"),
    ):
        rows: list[tuple[list[str], float]] = [([d.category], float(getattr(d, value))) for d in days]
        yield _gauge(f"coolpapers_listing_{name}", doc, ["category"], rows)
    yield _gauge(
        "coolpapers_listing_alert",
        "1 when papers of the category's latest checked day are still missing",
        ["category"],
        [([d.category], float(d.alert)) for d in days],
    )


def _sum_rows(rows: list[tuple[list[str], float]]) -> list[tuple[list[str], float]]:
    totals: dict[tuple[str, ...], float] = {}
    for labels, value in rows:
        totals[tuple(labels)] = totals.get(tuple(labels), 0.0) + value
    return [(list(k), v) for k, v in totals.items()]


def _queue_metrics(settings: Settings) -> Any:
    depths = queue_depths(settings)
    yield _gauge("coolpapers_queue_depth", "Tasks waiting per queue", ["queue"],
                 [([q, ], float(d)) for q, d in depths.items() if d is not None])  # fmt: skip


def _task_metrics(settings: Settings) -> Any:
    stats: dict[bytes, bytes] = {}
    if settings.redis_url:
        try:
            stats = redis_client(settings.redis_url).hgetall(TASK_STATS_KEY)  # type: ignore[assignment]
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


SHARED_COUNTS = SharedCounts()
REGISTRY.register(SHARED_COUNTS)


def metrics_text() -> bytes:
    """This process's registry, or, in multiprocess mode, every web process's counts summed."""
    folder = get_settings().prometheus_multiproc_dir
    if folder is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))  # type: ignore[no-untyped-call]
    registry.register(SHARED_COUNTS)
    return generate_latest(registry)


def prepare_metrics_folder(settings: Settings) -> None:
    """Create PROMETHEUS_MULTIPROC_DIR if missing (never empty it here: the sibling processes' files
    live there; `coolpapers serve` or a fresh tmpfs empties it before they start)."""
    if settings.prometheus_multiproc_dir is None:
        return
    if values.ValueClass is values.MutexValue:
        raise RuntimeError(
            "PROMETHEUS_MULTIPROC_DIR must be in the process's environment, not only in .env: "
            "prometheus-client reads it when imported, before the settings are"
        )
    settings.prometheus_multiproc_dir.mkdir(parents=True, exist_ok=True)


def empty_metrics_folder(folder: Path) -> None:
    """Before any web process starts: counts left by an earlier run would be summed as if live."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in folder.glob("*.db"):
        path.unlink()


def metrics_process_exit(settings: Settings) -> None:
    """A web process leaving: its live gauges go (prometheus-client keeps its counters summed)."""
    if settings.prometheus_multiproc_dir is not None:
        multiprocess.mark_process_dead(os.getpid(), path=str(settings.prometheus_multiproc_dir))  # type: ignore[no-untyped-call]


class ModelWarmup:
    """The embedding model loading in the background of a web process (see app.main's lifespan)."""

    def __init__(self) -> None:
        self._state = "not started"
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        """not started | loading | loaded | failed: <error> | off (EMBED_PRELOAD=false)"""
        return self._state

    def start(self, settings: Settings) -> None:
        with self._lock:
            if self._state in ("loading", "loaded"):
                return
            if not settings.embed_preload:
                self._state = "off"
                return
            self._state = "loading"
        threading.Thread(target=self._load, args=(settings,), name="model-warmup", daemon=True).start()

    def _load(self, settings: Settings) -> None:
        from app.search.embed import get_embedder

        started = time.perf_counter()
        try:
            get_embedder(settings).embed(["warm-up"])  # loads the model, and runs it once
        except Exception as exc:  # reported by /readyz and the log, never raised into a request
            self._state = f"failed: {type(exc).__name__}: {exc}"[:300]
            logging.getLogger(__name__).exception("embedding model failed to load")
            return
        self._state = "loaded"
        logging.getLogger(__name__).info(
            "embedding model loaded", extra={"seconds": round(time.perf_counter() - started, 2)}
        )


MODEL_WARMUP = ModelWarmup()


def readiness(
    settings: Settings, *, index_loaded: bool | None, model: str = "off"
) -> tuple[bool, dict[str, str]]:
    """Database and Redis answer; the index is loaded when there are vectors to load; the model is
    not still loading (a search would wait for it)."""
    checks: dict[str, str] = {}
    try:
        with session_scope(settings) as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if settings.redis_url:
        try:
            redis_client(settings.redis_url).ping()
            checks["redis"] = "ok"
        except redis.RedisError as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    else:
        checks["redis"] = "not configured (tasks in-process)"
    checks["index"] = {True: "loaded", False: "missing", None: "empty (nothing embedded yet)"}[index_loaded]
    checks["model"] = model
    checks["process"] = str(os.getpid())  # which web process answered (uvicorn --workers N)
    ready = (
        checks["database"] == "ok"
        and not checks["redis"].startswith("error")
        and index_loaded is not False
        and model != "loading"
        # A model that failed to load matters once there are vectors to search with it.
        and not (model.startswith("failed") and index_loaded is not None)
    )
    return ready, checks
