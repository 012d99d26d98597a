"""The Celery app. Configured lazily from Settings; without REDIS_URL tasks run in-process (eager).

Importing it installs `CeleryJobs` as app.jobs' implementation: the web tier sends tasks by name
through that protocol and never imports Celery itself (see app/jobs.py).

Run a worker:  celery -A workers.celery_app worker -Q fetch,summarize
Run beat:      celery -A workers.celery_app beat
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from typing import Any

import kombu.exceptions
import redis
from celery import Celery
from celery.result import AsyncResult
from celery.signals import task_postrun, worker_ready
from kombu.entity import Queue

from app.config import Settings, get_settings
from app.errors import QueueUnavailableError, first_line
from app.jobs import QUEUES, TASK_STATS_KEY, JobState, install_jobs, redis_client
from workers.schedule import CATCHUP_TASK, build_beat_schedule, next_run

log = logging.getLogger(__name__)
CATCHUP_DELAY = 3.0  # seconds from a worker's start to its catch-up round


def celery_config() -> dict[str, Any]:
    settings = get_settings()
    config: dict[str, Any] = {
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": settings.task_soft_time_limit,
        "task_time_limit": settings.task_time_limit,
        "task_track_started": True,
        "task_queues": [Queue(name) for name in QUEUES],  # type: ignore[no-untyped-call]
        "task_default_queue": "fetch",
        "task_routes": {f"{name}.*": {"queue": name} for name in QUEUES},
        "result_expires": 7 * 24 * 3600,
        "result_extended": True,
        "timezone": "UTC",
        "enable_utc": True,
        "worker_hijack_root_logger": False,
        "broker_connection_retry_on_startup": True,
        "beat_schedule": build_beat_schedule(settings),
        "beat_schedule_filename": str(settings.data_dir / "celerybeat-schedule"),
        "beat_scheduler": "workers.schedule:DataDirScheduler",
    }
    if settings.redis_url:
        config |= {
            "broker_url": settings.redis_url,
            "result_backend": settings.redis_url,
            # A task not acked within this many seconds is handed to another worker: keep it above
            # the longest task, or long tasks would run twice; and above the longest retry countdown
            # (TransientRetryTask: up to an hour), or a retry waiting in a worker is redelivered (and
            # run twice) every timeout. So it stays long, and what a worker killed whole took with it
            # is sent again by the catch-up round (workers/catchup.py), at once when a worker starts.
            "broker_transport_options": {
                "visibility_timeout": settings.task_time_limit * 3,
                # Priorities 0 (first) to 9: today's papers are summarised before older ones.
                "priority_steps": list(range(10)),
                "queue_order_strategy": "priority",
            },
            "result_backend_transport_options": {"retry_policy": {"timeout": 5.0}},
        }
    else:
        config |= {
            "broker_url": "memory://localhost/",  # a host named: kombu warns of none, even in memory
            "result_backend": "cache+memory://",
            "task_always_eager": True,
            # Like a worker, an eager task's failure is its result's state, not the caller's exception.
            "task_eager_propagates": False,
            "task_store_eager_result": True,
        }
    return config


app = Celery(
    "coolpapers",
    include=["workers.tasks", "workers.summaries", "workers.digests", "workers.catchup", "workers.venues"],
)
# add_defaults takes a callable evaluated on first use: no settings are read at import time.
app.add_defaults(celery_config)


@task_postrun.connect
def _count_task_run(task: Any = None, state: str | None = None, **_: Any) -> None:
    """Task outcomes for /metrics, which every web process reads from Redis."""
    settings = get_settings()
    if not settings.redis_url or task is None:
        return
    with contextlib.suppress(redis.RedisError):  # metrics must never fail a task
        redis_client(settings.redis_url).hincrby(
            TASK_STATS_KEY, f"{task.name}:{(state or 'UNKNOWN').lower()}", 1
        )


@worker_ready.connect
def _catch_up_on_start(sender: Any = None, **_: Any) -> None:
    """A worker that starts sends the catch-up round (workers/catchup.py): what a killed worker left
    undone resumes now, not when Redis gives its unacknowledged message back an hour later."""
    if not get_settings().catchup_seconds or app.conf.task_always_eager:
        return
    try:
        # A few seconds on: a message the dead worker took just before dying is then old enough
        # for the round to know no live worker holds it (workers/catchup.py: DELIVERY_MARGIN).
        app.send_task(CATCHUP_TASK, countdown=CATCHUP_DELAY)
    except (kombu.exceptions.OperationalError, redis.RedisError) as exc:
        log.warning("catch-up not sent; beat sends the next", extra={"error": str(exc)})


class CeleryJobs:
    """app.jobs.Jobs on this Celery app: a worker through Redis, or eagerly in-process without it."""

    def __init__(self, celery: Celery):
        self.celery = celery

    def send(self, name: str, *args: Any, priority: int = 0) -> JobState:
        if name.partition(".")[0] not in QUEUES:
            raise ValueError(f"no queue for task {name!r}: task names are <queue>.<verb>, queues {QUEUES}")
        if not self.celery.conf.task_always_eager:
            # Through the broker by name: the routes pick the queue, a worker has the task.
            _check_broker(self.celery.conf.broker_url)
            try:
                return _job_state(self.celery.send_task(name, args=list(args), priority=priority))
            except (kombu.exceptions.OperationalError, redis.RedisError) as exc:
                raise QueueUnavailableError from exc
        # Eager (no REDIS_URL): the task runs here, so its module (the app's `include`) must be loaded.
        self.celery.loader.import_default_modules()
        if name not in self.celery.tasks:
            raise ValueError(f"no task named {name!r}")
        return _job_state(self.celery.tasks[name].apply_async(args=list(args), priority=priority))

    def state(self, job_id: str) -> JobState:
        return _job_state(AsyncResult(job_id, app=self.celery))

    def next_round(self, settings: Settings) -> dt.datetime | None:
        return next_run(settings)


def _check_broker(url: str) -> None:
    """Fail in a second when Redis is away: Celery's own send retries for seconds, and its result
    consumer, once out of retries, stays broken until the process restarts."""
    try:
        redis_client(url).ping()
    except redis.RedisError as exc:
        raise QueueUnavailableError from exc


def _job_state(result: AsyncResult) -> JobState:
    failed = result.state == "FAILURE"
    return JobState(
        job_id=result.id,
        state=result.state,
        result=None if failed else result.result,
        error=failure_line(result.result) if failed else None,
    )


def failure_line(value: object) -> str:
    """A failed job's error for its status: a first line, also of an exception that says nothing."""
    if isinstance(value, BaseException):
        return first_line(value)
    return (str(value).strip().splitlines() or ["failed"])[0]


install_jobs(CeleryJobs(app))
