"""The Celery app. Configured lazily from Settings; without REDIS_URL tasks run in-process (eager).

Run a worker:  celery -A workers.celery_app worker -Q fetch,summarize
Run beat:      celery -A workers.celery_app beat
"""

from __future__ import annotations

from typing import Any

import redis
from celery import Celery
from celery.signals import task_postrun
from kombu.entity import Queue

from app.config import get_settings
from workers.schedule import build_beat_schedule

QUEUES = ("fetch", "embed", "summarize")


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
            # the longest task, or long tasks would run twice.
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
            "broker_url": "memory://",
            "result_backend": "cache+memory://",
            "task_always_eager": True,
            # Like a worker, an eager task's failure is its result's state, not the caller's exception.
            "task_eager_propagates": False,
            "task_store_eager_result": True,
        }
    return config


app = Celery("coolpapers", include=["workers.tasks", "workers.summaries"])
# add_defaults takes a callable evaluated on first use: no settings are read at import time.
app.add_defaults(celery_config)


@task_postrun.connect
def _count_task_run(task: Any = None, state: str | None = None, **_: Any) -> None:
    """Task outcomes for /metrics, which every web process reads from Redis."""
    settings = get_settings()
    if not settings.redis_url or task is None:
        return
    try:
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=1)
        client.hincrby("coolpapers:metrics:tasks", f"{task.name}:{(state or 'UNKNOWN').lower()}", 1)
    except redis.RedisError:
        pass  # metrics must never fail a task
