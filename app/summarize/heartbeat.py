"""The liveness signal of a generation: its process refreshes the summary's heartbeat_at.

While a summary is generated, its answers are written as they stream (generate.ProgressWriter),
each write carrying a heartbeat. A model can be silent for long stretches (a slow first token, a
long prompt, a queue on its side), so a thread beats too when no write went out for a while. A
worker killed whole (kill -9, OOM) stops both: after SUMMARY_STALE_SECONDS without a heartbeat the
summary is abandoned, and claimed again (service.claim_summary, release_abandoned).

Each write is conditional on the claim (the attempt number the claim returned, and the row still
running): when the summary was taken over meanwhile (this process was cut from the database longer
than the staleness window), the write changes nothing and the generation stops with
ClaimLostError, so two processes never both write one summary.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType

from sqlalchemy import update

from app.config import Settings
from app.store.db import session_scope
from app.store.models import Summary

log = logging.getLogger(__name__)
BEATS_PER_WINDOW = 6  # heartbeats per staleness window: one or two lost to a slow database are harmless
MAX_INTERVAL = 5.0  # seconds: "every few seconds", whatever the window


class ClaimLostError(Exception):
    """The summary was claimed by another process meanwhile: this generation must stop."""


def heartbeat_interval(settings: Settings) -> float:
    return min(settings.summary_stale_seconds / BEATS_PER_WINDOW, MAX_INTERVAL)


def write_claimed(settings: Settings, summary_id: int, claim: int | None, **values: object) -> None:
    """Update the summary with `values` and a fresh heartbeat, if this process's claim still holds."""
    now = dt.datetime.now(dt.UTC)
    statement = update(Summary).where(Summary.id == summary_id)
    if claim is not None:
        statement = statement.where(Summary.attempts == claim, Summary.status == "running")
    with session_scope(settings) as session:
        result = session.execute(statement.values(heartbeat_at=now, **values))
        if claim is not None and not getattr(result, "rowcount", 0):
            raise ClaimLostError(f"summary {summary_id} was taken over (claim {claim})")


class Heartbeat:
    """A thread beating for one claimed summary while it is generated (`start` .. `stop`, or `with`).

    `last_write` tells when the generation itself last wrote (a write is a heartbeat too), so a
    streaming answer costs no extra writes.
    """

    def __init__(
        self,
        settings: Settings,
        summary_id: int,
        claim: int,
        *,
        last_write: Callable[[], float],
        clock: Callable[[], float] = time.monotonic,
    ):
        self.settings, self.summary_id, self.claim = settings, summary_id, claim
        self.last_write, self.clock = last_write, clock
        self.interval = heartbeat_interval(settings)
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{summary_id}", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self.clock() - self.last_write() < self.interval:
                continue  # the generation wrote (and so beat) recently
            try:
                write_claimed(self.settings, self.summary_id, self.claim)
            except ClaimLostError:
                self.lost = True  # the generation's next write stops it
                if self._stop.is_set():
                    return  # it finished meanwhile: the row is no longer running, rightly
                log.warning("summary taken over by another worker", extra={"summary_id": self.summary_id})
                return
            except Exception:  # the database away for a moment: beat again next time
                log.warning("summary heartbeat failed", extra={"summary_id": self.summary_id}, exc_info=True)
