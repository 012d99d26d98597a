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


def queue_depths(settings: Settings) -> dict[str, int | None]:
    """Messages waiting in each queue (Redis lists named after the queues)."""
    if not settings.redis_url:
        return dict.fromkeys(QUEUES, 0)
    try:
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        with client.pipeline() as pipe:
            for name in QUEUES:
                pipe.llen(name)
            return {name: int(depth) for name, depth in zip(QUEUES, pipe.execute(), strict=True)}
    except redis.RedisError:
        return dict.fromkeys(QUEUES)


def utc(value: dt.datetime | None) -> dt.datetime | None:
    return as_utc(value)
