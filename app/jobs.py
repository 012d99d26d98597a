"""Background jobs as the web tier and the domain packages see them: send a task by name, follow it.

    app.web, app.api, app.summarize ──> app.jobs.Jobs (this protocol) <── workers.celery_app.CeleryJobs

The Celery app implements `Jobs` and installs it when `workers.celery_app` is imported: by every
worker process, and by app.main at start-up for the web processes. So the web tier and the domain
import neither Celery nor `workers` (import-linter holds the line), and the workers stay a thin
wrapper of the domain's use cases. Without REDIS_URL the same Celery tasks run eagerly in-process.

The queues themselves (their names, their depth in Redis) need no Celery: they are read here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import redis

from app.config import Settings

QUEUES = ("fetch", "embed", "summarize")  # task names are `<queue>.<verb>`: `fetch.category`
TASK_STATS_KEY = "coolpapers:metrics:tasks"  # Redis hash of task outcomes, written by the workers


@dataclass(frozen=True, slots=True)
class JobState:
    job_id: str
    state: str  # PENDING (also: unknown) | STARTED | RETRY | SUCCESS | FAILURE
    result: Any = None  # the task's return value once it succeeded
    error: str | None = None  # the first line of its exception once it failed


class Jobs(Protocol):
    def send(self, name: str, *args: Any, priority: int = 0) -> JobState:
        """Queue the task `name` with these JSON-serialisable arguments (priority 0 goes first)."""
        ...

    def state(self, job_id: str) -> JobState: ...

    def next_round(self, settings: Settings) -> dt.datetime | None:
        """When the beat schedule sends the next fetch round (UTC)."""
        ...


_installed: list[Jobs] = []


def install_jobs(implementation: Jobs) -> None:
    _installed[:] = [implementation]


def jobs() -> Jobs:
    if not _installed:
        raise RuntimeError("no job queue installed: import workers.celery_app first (app.main does)")
    return _installed[0]


# kombu's Redis transport keeps a queue's messages of priority p > 0 in the list "<queue>\x06\x16<p>".
_PRIORITY_KEYS = ("", *(f"\x06\x16{p}" for p in range(1, 10)))


@lru_cache
def redis_client(url: str) -> redis.Redis:
    """One client, so one connection pool, per Redis URL and process (redis-py makes a forked child
    its own pool): a check or a count reuses a connection instead of opening one each time. Short
    timeouts: Redis away is reported in a second or so, never waited for."""
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)


def queue_depths(settings: Settings) -> dict[str, int | None]:
    """Messages waiting in each queue (Redis lists named after the queues, one per priority)."""
    if not settings.redis_url:
        return dict.fromkeys(QUEUES, 0)
    try:
        with redis_client(settings.redis_url).pipeline() as pipe:
            for name in QUEUES:
                for suffix in _PRIORITY_KEYS:
                    pipe.llen(name + suffix)
            depths = [int(depth) for depth in pipe.execute()]
        step = len(_PRIORITY_KEYS)
        return {name: sum(depths[i * step : (i + 1) * step]) for i, name in enumerate(QUEUES)}
    except redis.RedisError:
        return dict.fromkeys(QUEUES)  # None: the broker could not be asked
