"""The beat schedule, built from settings: a fetch round after each arXiv announcement."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from celery.beat import PersistentScheduler
from celery.schedules import crontab

from app.config import Settings


def fetch_crontabs(settings: Settings, *, nowfun: Callable[[], dt.datetime] | None = None) -> list[crontab]:
    """One crontab per configured time (UTC), on the configured days (`nowfun`: their clock)."""
    return [
        crontab(minute=when.minute, hour=when.hour, day_of_week=settings.schedule_days, nowfun=nowfun)
        for when in map(_clock, settings.schedule_times)
    ]


def _clock(value: str) -> dt.time:
    """A SCHEDULE_TIMES entry, `HH:MM` or `HH`."""
    hour, _, minute = value.partition(":")
    return dt.time(int(hour), int(minute or 0))


def _minute_of_day(value: str) -> int:
    when = _clock(value)
    return when.hour * 60 + when.minute


def _expiry(value: str, times: tuple[str, ...], *, cap: float = 3600.0) -> float:
    """Seconds a round may wait in the queue: an hour, and never past the next round's time."""
    start = _minute_of_day(value)
    gaps = [(_minute_of_day(other) - start) % 1440 for other in times]
    gap = min((g for g in gaps if g), default=1440)  # minutes to the next configured time
    return min(cap, gap * 60 * 0.9)


CATCHUP_TASK = "fetch.catchup"


def build_beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Beat entries for `fetch.scheduled`, each expiring well before the next one is due, and the
    periodic catch-up (CATCHUP_SECONDS; workers/catchup.py), expiring before the next one.

    The categories are chosen when the round runs (configured plus recently opened), not here,
    so a category a reader opens today is fetched tomorrow without restarting beat.
    """
    schedule: dict[str, dict[str, Any]] = {}
    for tab, value in zip(fetch_crontabs(settings), settings.schedule_times, strict=True):
        schedule[f"fetch-round-{value}"] = {
            "task": "fetch.scheduled",
            "schedule": tab,
            "options": {"expires": _expiry(value, settings.schedule_times), "queue": "fetch"},
        }
    if settings.catchup_seconds:
        schedule["catch-up"] = {
            "task": CATCHUP_TASK,
            "schedule": float(settings.catchup_seconds),
            "options": {"expires": settings.catchup_seconds * 0.9, "queue": "fetch"},
        }
    schedule.update(venue_entries(settings))
    return schedule


VENUE_TASK = "fetch.venue"  # the task: workers/venues.py
VENUE_REFRESH_SECONDS = 86_400.0  # proceedings change rarely: once a day, a 304 when unchanged


def venue_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    """One daily `fetch.venue` per edition named in VENUES, expiring before the next one."""
    return {
        f"venue-{edition}": {
            "task": VENUE_TASK,
            "schedule": VENUE_REFRESH_SECONDS,
            "args": [edition],
            "options": {"expires": VENUE_REFRESH_SECONDS * 0.9, "queue": "fetch"},
        }
        for edition in settings.venues
    }


def next_run(settings: Settings, *, now: dt.datetime | None = None) -> dt.datetime | None:
    """When the next scheduled fetch round is due (UTC)."""
    now = now or dt.datetime.now(dt.UTC)
    # The crontabs must measure the remaining time from `now`, not from the wall clock.
    due = [now + tab.remaining_estimate(now) for tab in fetch_crontabs(settings, nowfun=lambda: now)]
    return min(due) if due else None


def previous_run(settings: Settings, *, now: dt.datetime | None = None) -> dt.datetime | None:
    """When the latest scheduled fetch round was due (UTC), looking back a week at most."""
    now = now or dt.datetime.now(dt.UTC)
    due = []
    for tab, value in zip(fetch_crontabs(settings), settings.schedule_times, strict=True):
        for back in range(8):
            day = now.date() - dt.timedelta(days=back)
            # crontab's day_of_week counts from Sunday = 0; isoweekday() from Monday = 1 to Sunday = 7.
            if day.isoweekday() % 7 not in tab.day_of_week:
                continue
            when = dt.datetime.combine(day, _clock(value), dt.UTC)
            if when <= now:
                due.append(when)
                break
    return max(due) if due else None


class DataDirScheduler(PersistentScheduler):  # type: ignore[misc]
    """Celery's default scheduler, creating the folder of its schedule file (DATA_DIR) first."""

    def setup_schedule(self) -> None:
        Path(self.schedule_filename).parent.mkdir(parents=True, exist_ok=True)
        super().setup_schedule()
