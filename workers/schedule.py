"""The beat schedule, built from settings: a fetch round after each arXiv announcement."""

from __future__ import annotations

import datetime as dt
from typing import Any

from celery.schedules import crontab

from app.config import Settings


def fetch_crontabs(settings: Settings) -> list[crontab]:
    """One crontab per configured time (UTC), on the configured days."""
    tabs = []
    for value in settings.schedule_times:
        hour, _, minute = value.partition(":")
        tabs.append(crontab(minute=int(minute or 0), hour=int(hour), day_of_week=settings.schedule_days))
    return tabs


def build_beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Beat entries for `fetch.scheduled`, each expiring well before the next one is due.

    The categories are chosen when the round runs (configured plus recently opened), not here,
    so a category a reader opens today is fetched tomorrow without restarting beat.
    """
    schedule: dict[str, dict[str, Any]] = {}
    for tab, value in zip(fetch_crontabs(settings), settings.schedule_times, strict=True):
        schedule[f"fetch-round-{value}"] = {
            "task": "fetch.scheduled",
            "schedule": tab,
            "options": {"expires": 3600, "queue": "fetch"},
        }
    return schedule


def next_run(settings: Settings, *, now: dt.datetime | None = None) -> dt.datetime | None:
    """When the next scheduled fetch round is due (UTC)."""
    now = now or dt.datetime.now(dt.UTC)
    due = [now + tab.remaining_estimate(now) for tab in fetch_crontabs(settings)]
    return min(due) if due else None
