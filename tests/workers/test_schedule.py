"""The beat schedule built from settings, and when the next round is due."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from celery.schedules import crontab

from app.config import Settings
from workers.schedule import DataDirScheduler, build_beat_schedule, next_run, previous_run

UTC = dt.UTC


def _to_next(value: str, times: tuple[str, ...]) -> float:
    """Seconds from `value` to the next configured time of day (a whole day when it is alone)."""

    def minute(t: str) -> int:
        return int(t[:2]) * 60 + int(t[3:])

    gaps = [(minute(other) - minute(value)) % 1440 for other in times]
    return min((g for g in gaps if g), default=1440) * 60.0


@pytest.mark.parametrize(
    "times",
    [("05:30", "07:30"), ("06:00",), ("05:30", "06:00"), ("23:50", "00:10"), ("05:30", "05:45", "06:00")],
)
def test_beat_schedule_has_one_entry_per_time_expiring_before_the_next(times: tuple[str, ...]) -> None:
    settings = Settings(schedule_times=times, schedule_days="mon-fri", catchup_seconds=0)
    schedule = build_beat_schedule(settings)
    assert sorted(schedule) == sorted(f"fetch-round-{t}" for t in times)
    for time_of_day, entry in zip(times, (schedule[f"fetch-round-{t}"] for t in times), strict=True):
        assert entry["task"] == "fetch.scheduled"
        assert entry["options"]["queue"] == "fetch"
        assert 0 < entry["options"]["expires"] < _to_next(time_of_day, times)
        tab = entry["schedule"]
        assert isinstance(tab, crontab)
        hour, minute = (int(part) for part in time_of_day.split(":"))
        assert (tab.hour, tab.minute) == ({hour}, {minute})
        assert tab.day_of_week == {1, 2, 3, 4, 5}


def test_default_schedule_is_after_each_announcement_on_weekdays() -> None:
    schedule = build_beat_schedule(Settings())
    assert sorted(schedule) == ["catch-up", "fetch-round-05:30", "fetch-round-07:30"]
    assert all(entry["options"]["expires"] <= 3600 for entry in schedule.values())


def test_catch_up_runs_every_few_minutes_and_expires_before_the_next() -> None:
    entry = build_beat_schedule(Settings(catchup_seconds=300))["catch-up"]
    assert (entry["task"], entry["schedule"], entry["options"]["queue"]) == ("fetch.catchup", 300.0, "fetch")
    assert 0 < entry["options"]["expires"] < 300


@pytest.mark.parametrize(
    ("now", "times", "days", "expected"),
    [
        ("2026-09-24T06:00", ("05:30", "07:30"), "mon-fri", "2026-09-24T05:30"),  # a Thursday
        ("2026-09-24T05:00", ("05:30", "07:30"), "mon-fri", "2026-09-23T07:30"),
        ("2026-09-28T05:00", ("05:30",), "mon-fri", "2026-09-25T05:30"),  # Monday early: Friday's
        ("2026-09-27T12:00", ("05:30",), "sun", "2026-09-27T05:30"),  # Sunday is crontab's 0
    ],
)
def test_previous_run_is_the_latest_due_round(
    now: str, times: tuple[str, ...], days: str, expected: str
) -> None:
    settings = Settings(schedule_times=times, schedule_days=days)
    at = dt.datetime.fromisoformat(now).replace(tzinfo=dt.UTC)
    assert previous_run(settings, now=at) == dt.datetime.fromisoformat(expected).replace(tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (dt.datetime(2026, 9, 24, 4, 0, tzinfo=UTC), dt.datetime(2026, 9, 24, 5, 30, tzinfo=UTC)),  # Thu
        (dt.datetime(2026, 9, 24, 6, 0, tzinfo=UTC), dt.datetime(2026, 9, 24, 7, 30, tzinfo=UTC)),
        (dt.datetime(2026, 9, 25, 8, 0, tzinfo=UTC), dt.datetime(2026, 9, 28, 5, 30, tzinfo=UTC)),  # Fri->Mon
        (dt.datetime(2026, 9, 26, 12, 0, tzinfo=UTC), dt.datetime(2026, 9, 28, 5, 30, tzinfo=UTC)),  # Sat
    ],
)
def test_next_run(now: dt.datetime, due: dt.datetime) -> None:
    assert next_run(Settings(), now=now) == due


def test_next_run_without_times_is_none() -> None:
    assert next_run(Settings(schedule_times=())) is None


def test_next_run_follows_configured_days() -> None:
    settings = Settings(schedule_times=("12:00",), schedule_days="sun")
    assert next_run(settings, now=dt.datetime(2026, 9, 24, 4, 0, tzinfo=UTC)) == dt.datetime(
        2026, 9, 27, 12, 0, tzinfo=UTC
    )


def test_beat_scheduler_creates_the_data_dir(tmp_path: Path) -> None:
    from workers.celery_app import app

    path = tmp_path / "not-yet" / "celerybeat-schedule"
    scheduler = DataDirScheduler(app=app, schedule_filename=str(path))
    scheduler.close()
    assert path.parent.is_dir()
    assert app.conf.beat_scheduler == "workers.schedule:DataDirScheduler"
