"""What the pipeline is doing: per category the last run and the next, and the queues' depth."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import redis
from sqlalchemy.orm import Session

from app.config import Settings
from app.store.fetch_log import last_errors, last_runs
from app.store.models import FetchLog
from app.store.papers import as_utc
from workers.celery_app import QUEUES
from workers.schedule import next_run


@dataclass(frozen=True, slots=True)
class CategoryStatus:
    category: str
    last_run: FetchLog | None
    last_error: FetchLog | None

    @property
    def result(self) -> str:
        if self.last_run is None:
            return "never"
        if self.last_run.error:
            return "error"
        return "not modified" if self.last_run.http_status == 304 else "ok"


@dataclass(frozen=True, slots=True)
class PipelineStatus:
    mode: str  # "celery" (Redis) or "in-process"
    categories: list[CategoryStatus]
    next_run: dt.datetime | None
    queues: dict[str, int | None]  # None: the broker could not be asked


def pipeline_status(session: Session, settings: Settings) -> PipelineStatus:
    runs, errors = last_runs(session), last_errors(session)
    names = list(dict.fromkeys([*settings.arxiv_categories, *sorted(runs)]))
    return PipelineStatus(
        mode="celery" if settings.redis_url else "in-process",
        categories=[CategoryStatus(name, runs.get(name), errors.get(name)) for name in names],
        next_run=next_run(settings),
        queues=queue_depths(settings),
    )


# kombu's Redis transport keeps a queue's messages of priority p > 0 in the list "<queue>\x06\x16<p>".
_PRIORITY_KEYS = ("", *(f"\x06\x16{p}" for p in range(1, 10)))


def queue_depths(settings: Settings) -> dict[str, int | None]:
    """Messages waiting in each queue (Redis lists named after the queues, one per priority)."""
    if not settings.redis_url:
        return dict.fromkeys(QUEUES, 0)
    try:
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        with client.pipeline() as pipe:
            for name in QUEUES:
                for suffix in _PRIORITY_KEYS:
                    pipe.llen(name + suffix)
            depths = [int(depth) for depth in pipe.execute()]
        step = len(_PRIORITY_KEYS)
        return {name: sum(depths[i * step : (i + 1) * step]) for i, name in enumerate(QUEUES)}
    except redis.RedisError:
        return dict.fromkeys(QUEUES)


def utc(value: dt.datetime | None) -> dt.datetime | None:
    return as_utc(value)
