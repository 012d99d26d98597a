"""The shared retry policy: Retry-After first (capped), else exponential backoff with jitter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest

from app.errors import ArxivUnavailableError
from app.http_retry import TransientHTTPError, http_retrying, parse_retry_after


def run(errors: Sequence[BaseException], slept: list[float], **options: object) -> str:
    pending = list(errors)

    def attempt() -> str:
        if pending:
            raise pending.pop(0)
        return "done"

    defaults: dict[str, object] = {"name": "test", "retries": 3, "backoff": 0.1, "max_wait": 5.0}
    retrying = http_retrying(**(defaults | options), sleep=slept.append)  # type: ignore[arg-type]
    result: str = retrying(attempt)
    return result


def test_retry_after_is_waited() -> None:
    slept: list[float] = []
    errors = [TransientHTTPError("GET u", "HTTP 429", status=429, retry_after=a) for a in (2, 4)]
    assert run(errors, slept) == "done"
    assert slept == [2.0, 4.0]


def test_a_retry_after_past_the_longest_wait_gives_up_at_once_carrying_it() -> None:
    """Waiting the cap only tried too early: a Retry-After of an hour held a worker 4 x 300 s, past the
    task's time limit, which then failed without a retry or a log row."""
    slept: list[float] = []
    errors = [TransientHTTPError("GET u", "HTTP 503", status=503, retry_after=a) for a in (2, 3600, 1)]
    with pytest.raises(ArxivUnavailableError) as caught:
        run(errors, slept, give_up_as=ArxivUnavailableError, give_up_past_max_wait=True)
    assert slept == [2.0] and "after 2 attempt(s)" in str(caught.value)
    assert caught.value.retry_after == 3600  # for the task's retry to wait


def test_backoff_doubles_with_jitter_without_retry_after() -> None:
    slept: list[float] = []
    assert run([TransientHTTPError("GET u", "HTTP 503", status=503)] * 3, slept) == "done"
    assert all(low <= wait <= low + 0.1 for low, wait in zip([0.1, 0.2, 0.4], slept, strict=True))


def test_giving_up_raises_the_callers_error_with_the_count() -> None:
    error = TransientHTTPError("GET https://x/rss", "HTTP 503", status=503, retry_after=1)
    with pytest.raises(ArxivUnavailableError) as caught:
        run([error] * 3, [], retries=2, give_up_as=ArxivUnavailableError)
    assert str(caught.value) == "GET https://x/rss failed after 3 attempt(s): HTTP 503"
    assert (caught.value.status, caught.value.retry_after) == (503, 1)


def test_other_errors_are_not_retried() -> None:
    slept: list[float] = []
    with pytest.raises(ValueError, match="bad"):
        run([ValueError("bad")], slept)
    assert slept == []


def test_parse_retry_after_accepts_seconds_and_http_dates() -> None:
    now = dt.datetime(2024, 5, 20, 12, 0, 0, tzinfo=dt.UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Mon, 20 May 2024 12:00:30 GMT", now=now) == 30
    assert parse_retry_after("Mon, 20 May 2024 11:00:00 GMT", now=now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
