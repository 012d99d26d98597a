"""Where a bulk import stands, saved in `backfill_states` with every batch, and what it reports."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.errors import BackfillConflictError
from app.store.models import BackfillState

SKIPPED_LINES_KEPT = 10_000  # line numbers of malformed records remembered (to resume exactly)
SKIPPED = "skipped:"  # prefix of the per-reason counters


@dataclass
class Progress:
    """The in-memory copy of a `BackfillState` row."""

    state_id: int
    position: int  # snapshot: bytes of the decompressed file done; OAI: records harvested
    line: int  # snapshot: lines of the file done; OAI: pages done
    token: str | None
    total: int | None
    counts: Counter[str]
    skipped_lines: list[int]
    started_at: dt.datetime
    finished_at: dt.datetime | None
    resumed: bool  # this run continues an earlier, interrupted one

    @property
    def skipped(self) -> int:
        return sum(n for key, n in self.counts.items() if key.startswith(SKIPPED))

    @property
    def skipped_lines_complete(self) -> bool:
        """Whether every malformed line is listed in `skipped_lines`."""
        return len(self.skipped_lines) >= self.skipped


@dataclass(frozen=True, slots=True)
class BatchDone:
    """Told after each committed batch: the papers to embed and how far the import is."""

    paper_ids: tuple[int, ...]  # inserted or changed papers' ids
    done: int  # bytes of the file read (of the compressed file for .gz), or records harvested
    total: int | None  # file size, or the OAI completeListSize when the server gives one
    counts: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class BackfillReport:
    """What an import did, over all its runs (the counts survive interruptions)."""

    kind: str  # snapshot | oai
    counts: Mapping[str, int]
    finished_at: dt.datetime | None
    already_finished: bool = False  # nothing done: an earlier run had finished it
    resumed: bool = False
    seconds: float = 0.0
    records_this_run: int = 0
    reasons: Mapping[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        c = self.counts
        pages = f"{c.get('pages', 0)} pages, " if self.kind == "oai" else ""
        body = (
            f"{pages}{c.get('records', 0)} records read: {c.get('new', 0)} new, "
            f"{c.get('updated', 0)} updated, {c.get('unchanged', 0)} unchanged, "
            f"{c.get('filtered', 0)} filtered out, {sum(self.reasons.values())} skipped as malformed"
        )
        if self.already_finished and self.finished_at is not None:
            return f"backfill already finished on {self.finished_at:%Y-%m-%d %H:%M} UTC: {body}"
        return f"backfill {'finished' if self.finished_at else 'stopped'}: {body}"

    def run_line(self) -> str:
        """What this run did, and how fast."""
        if self.already_finished:
            return "nothing to do (--restart imports it all again)"
        rate = self.records_this_run / max(self.seconds, 1e-9)
        resumed = ", continuing an interrupted run" if self.resumed else ""
        return f"this run: {self.records_this_run:,} records in {self.seconds:.1f} s ({rate:,.0f}/s){resumed}"

    def reason_lines(self) -> list[str]:
        """One line per kind of malformed record, most frequent first."""
        ranked = sorted(self.reasons.items(), key=lambda item: (-item[1], item[0]))
        return [f"  skipped ({reason}): {count}" for reason, count in ranked]


class RunMeter:
    """This run's rate and time left, from its own committed batches (not a resumed run's earlier ones)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._first: tuple[float, int, int] | None = None  # (time, done, records) at the first batch

    def status(self, batch: BatchDone) -> str:
        now = self._clock()
        records = batch.counts.get("records", 0)
        if self._first is None:
            self._first = (now, batch.done, records)
        start, done, read = self._first
        elapsed = now - start
        if elapsed <= 0:
            return f"{records:,} records"
        speed = (batch.done - done) / elapsed
        left = ""
        if batch.total and speed > 0:
            left = f", {dt.timedelta(seconds=round(max(batch.total - batch.done, 0) / speed))} left"
        return f"{records:,} records, {(records - read) / elapsed:,.0f}/s{left}"


def source_key(kind: str, parts: Mapping[str, object]) -> tuple[str, str]:
    """(key, source): the sha256 of what identifies an import, and that description itself."""
    source = json.dumps({"kind": kind, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(source.encode()).hexdigest(), source


def open_progress(
    session: Session, *, kind: str, key: str, source: str, total: int | None, restart: bool
) -> Progress:
    """The saved state of this import, created when new, reset to the start when `restart`."""
    now = dt.datetime.now(dt.UTC)
    row = session.scalar(select(BackfillState).where(BackfillState.key == key))
    if row is None:
        row = BackfillState(key=key, kind=kind, source=source, started_at=now)
        session.add(row)
    if row.id is None or restart:
        row.position, row.line, row.token, row.total = 0, 0, None, total
        row.counts, row.skipped_lines = {}, []
        row.started_at, row.updated_at, row.finished_at = now, now, None
    session.flush()
    return Progress(
        state_id=row.id,
        position=row.position,
        line=row.line,
        token=row.token,
        total=row.total,
        counts=Counter(row.counts),
        skipped_lines=list(row.skipped_lines),
        started_at=row.started_at,
        finished_at=row.finished_at,
        # Interrupted: a harvest not finished yet, or a finished one's top-up holding a token.
        resumed=row.line > 0 and (row.finished_at is None or row.token is not None),
    )


def save_progress(session: Session, *, before: Progress, after: Progress) -> None:
    """Store `after` in the same transaction as its batch; refuse if the row is not at `before`.

    The row is locked first (SELECT .. FOR UPDATE waits for a concurrent batch's commit and then
    reads what it committed), so batches written at once still save their progress in order.
    """
    locked = select(BackfillState.line).where(BackfillState.id == before.state_id).with_for_update()
    if session.scalar(locked) != before.line:
        raise BackfillConflictError(
            "another backfill of the same source moved on meanwhile: run only one at a time"
        )
    session.execute(
        update(BackfillState)
        .where(BackfillState.id == before.state_id)
        .values(
            position=after.position,
            line=after.line,
            token=after.token,
            total=after.total,
            counts=dict(after.counts),
            skipped_lines=after.skipped_lines[:SKIPPED_LINES_KEPT],
            updated_at=dt.datetime.now(dt.UTC),
            finished_at=after.finished_at,
        )
        .execution_options(synchronize_session=False)
    )


def report_of(
    kind: str,
    progress: Progress,
    *,
    already_finished: bool = False,
    seconds: float = 0.0,
    records_this_run: int = 0,
) -> BackfillReport:
    """The report of an import as `progress` (committed) leaves it."""
    reasons = {
        key.removeprefix(SKIPPED): n for key, n in progress.counts.items() if key.startswith(SKIPPED) and n
    }
    return BackfillReport(
        kind=kind,
        counts={k: n for k, n in progress.counts.items() if not k.startswith(SKIPPED)},
        finished_at=progress.finished_at,
        already_finished=already_finished,
        resumed=progress.resumed,
        seconds=seconds,
        records_this_run=records_this_run,
        reasons=reasons,
    )
