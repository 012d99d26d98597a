"""The retry policy of every outgoing HTTP call (arXiv, the language model), on tenacity.

An attempt that fails in a way worth another try raises an error carrying `retry_after` (seconds, or
None), a `TransientHTTPError` by default: the next try waits what the server asked for with
`Retry-After`, capped, or else an exponential backoff with jitter. The caller names the error raised
on giving up.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import math
import time
from collections.abc import Callable
from typing import NoReturn, Protocol, cast

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_any
from tenacity.stop import stop_base
from tenacity.wait import wait_base, wait_exponential_jitter

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP date); None if unusable."""
    if not value or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value.strip())
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


class wait_retry_after(wait_base):  # lower case, like tenacity's own wait strategies
    """What the failed attempt's error asked for (`retry_after`, capped at `cap`), else `fallback`."""

    def __init__(self, fallback: wait_base, *, cap: float) -> None:
        self.fallback = fallback
        self.cap = cap

    def __call__(self, retry_state: RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        asked = getattr(error, "retry_after", None)
        if isinstance(asked, int | float):
            return min(float(asked), self.cap)
        return self.fallback(retry_state)


class stop_asked_past(stop_base):  # lower case, like tenacity's own stop strategies
    """Stop when the failed attempt's error asks to wait longer than `seconds` (`retry_after`)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, retry_state: RetryCallState) -> bool:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        asked = getattr(error, "retry_after", None)
        return isinstance(asked, int | float) and asked > self.seconds


class TransientHTTPError(Exception):
    """One attempt of `request` ("GET https://...") failed in a way worth another try."""

    def __init__(
        self, request: str, cause: str, *, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(cause)
        self.request = request
        self.cause = cause
        self.status = status
        self.retry_after = retry_after


class GiveUpError(Protocol):
    """The caller's error for a request that kept failing (`FetchError` and its kin)."""

    def __call__(self, message: str, *, status: int | None, retry_after: float | None) -> Exception: ...


def http_retrying(
    *,
    name: str,
    retries: int,
    backoff: float,
    max_wait: float,
    give_up_as: GiveUpError | None = None,
    retry_if: Callable[[BaseException], bool] = lambda error: isinstance(error, TransientHTTPError),
    sleep: Callable[[float], None] = time.sleep,
    give_up_past_max_wait: bool = False,
) -> Retrying:
    """`retries` more attempts after the first while `retry_if(error)`, then the last error gives up.

    Waits `backoff * 2**n` plus up to `backoff` of jitter (at most `max_wait`), or `Retry-After`.
    With `give_up_past_max_wait`, a `Retry-After` longer than `max_wait` gives up at once, carrying
    it (a task's retry waits it): waiting part of it only tried too early, and held a worker for up to
    `retries` x `max_wait`, past a task's time limit.
    Giving up, a `TransientHTTPError` becomes `give_up_as(...)` and any other error is raised again;
    both say how many attempts were made.
    """
    logger = logging.getLogger(name)

    def log_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        extra = {"attempt": state.attempt_number, "delay_s": delay, "status": getattr(error, "status", None)}
        logger.info("%s retry", name, extra=extra)

    def give_up_with_count(state: RetryCallState) -> NoReturn:
        error = cast(BaseException, state.outcome.exception() if state.outcome else None)  # it failed
        logger.info("%s gave up", name, extra={"status": getattr(error, "status", None)})
        tries = f"{state.attempt_number} attempt(s)"
        if isinstance(error, TransientHTTPError) and give_up_as is not None:
            message = f"{error.request} failed after {tries}: {error.cause}"
            raise give_up_as(message, status=error.status, retry_after=error.retry_after) from error
        error.args = (f"gave up after {tries}: {error}",)
        raise error

    stop: stop_base = stop_after_attempt(retries + 1)
    if give_up_past_max_wait:
        stop = stop_any(stop, stop_asked_past(max_wait))
    return Retrying(
        retry=retry_if_exception(retry_if),
        stop=stop,
        wait=wait_retry_after(
            wait_exponential_jitter(multiplier=backoff, jitter=backoff, max=max_wait), cap=max_wait
        ),
        sleep=sleep,
        before_sleep=log_retry,
        retry_error_callback=give_up_with_count,
    )
