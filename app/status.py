"""What the pipeline is doing: per category the last run and the next, the queues' depth, and the
backlog (app/store/backlog.py: papers without a vector, summaries no worker is generating)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.config import Settings
from app.jobs import jobs, queue_depths
from app.store.backlog import Backlog, pipeline_backlog
from app.store.completeness import DayCompleteness, recent_completeness
from app.store.fetch_log import last_errors, last_runs
from app.store.models import FetchLog


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
    backlog: Backlog
    completeness: list[DayCompleteness]  # the feed against the API, per category and recent day


def pipeline_status(session: Session, settings: Settings) -> PipelineStatus:
    runs, errors = last_runs(session), last_errors(session)
    names = list(dict.fromkeys([*settings.arxiv_categories, *sorted(runs)]))
    return PipelineStatus(
        mode="celery" if settings.redis_url else "in-process",
        categories=[CategoryStatus(name, runs.get(name), errors.get(name)) for name in names],
        next_run=jobs().next_round(settings),
        queues=queue_depths(settings),
        backlog=pipeline_backlog(session, settings),
        completeness=recent_completeness(session),
    )
