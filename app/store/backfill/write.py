"""Storing batches of parsed records, in order, each committed with the progress it completes.

On PostgreSQL new papers go through COPY into a temporary table and one INSERT .. SELECT .. ON
CONFLICT DO NOTHING (several times faster than a multi-row INSERT built in Python); records already
stored take the ordinary idempotent upsert of `app.store.papers`, as on SQLite.

`BatchWriter` overlaps reading with writing: batches are written on `writers` connections at once,
but each commit also moves the saved progress from the previous batch's end to its own (a guarded
UPDATE of the one `backfill_states` row, which waits for the previous batch's commit), so what is
committed is always every batch up to some point, never a batch after a gap.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.arxiv.types import PAPER_FIELDS, FeedEntry
from app.config import Settings
from app.store.backfill.progress import BatchDone, Progress, save_progress
from app.store.db import session_scope
from app.store.papers import paper_row, upsert_papers

STORE_COUNTS = ("new", "updated", "unchanged")
# The staging table has the columns `FeedEntry` declares, in its SQL types.
_STAGING = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS backfill_incoming ("
    + ", ".join(f"{spec.name} {spec.stored.sql}" for spec in PAPER_FIELDS)
    + ") ON COMMIT DELETE ROWS"
)
_COLS = ", ".join(spec.name for spec in PAPER_FIELDS)
_JSON = {spec.name for spec in PAPER_FIELDS if spec.stored.sql == "json"}


@dataclass(frozen=True, slots=True)
class BatchStats:
    new: int
    updated: int
    unchanged: int
    changed_ids: tuple[int, ...]  # papers.id of the inserted and updated papers


def store_batch(session: Session, *, entries: Sequence[FeedEntry]) -> BatchStats:
    """Insert or update `entries` (one per arXiv id); nothing is committed here."""
    if not entries:
        return BatchStats(0, 0, 0, ())
    inserted: dict[str, int] = {}
    rest = list(entries)
    if session.get_bind().dialect.name == "postgresql":
        inserted = _copy_new(session, entries)
        rest = [entry for entry in entries if entry.arxiv_id not in inserted]
    stats = upsert_papers(session, entries=rest, submission_dates=True)
    changed = (*inserted.values(), *(stats.ids[arxiv_id] for arxiv_id in stats.changed))
    new = len(inserted) + stats.new
    return BatchStats(new, stats.updated, len(inserted) + len(stats.ids) - new - stats.updated, changed)


def _copy_new(session: Session, entries: Sequence[FeedEntry]) -> dict[str, int]:
    """COPY the batch to a temporary table and insert the unknown papers: {arxiv_id: id}."""
    driver: Any = session.connection().connection.driver_connection  # psycopg.Connection
    with driver.cursor() as cur:
        cur.execute(_STAGING)
        with cur.copy(f"COPY backfill_incoming ({_COLS}) FROM STDIN") as pipe:
            for entry in entries:
                row = paper_row(entry)
                pipe.write_row([json.dumps(v) if k in _JSON else v for k, v in row.items()])
        cur.execute(
            f"INSERT INTO papers ({_COLS}) SELECT {_COLS} FROM backfill_incoming "
            "ON CONFLICT (arxiv_id) DO NOTHING RETURNING id, arxiv_id"
        )
        inserted = {arxiv_id: pk for pk, arxiv_id in cur.fetchall()}
        cur.execute("TRUNCATE backfill_incoming")
    return inserted


@dataclass
class _Pending:
    future: Future[tuple[BatchDone, Progress]]
    totals: Future[Counter[str]]  # store counts up to and including this batch, once written


class BatchWriter:
    """Writes batches in order on `writers` threads; `on_batch` is told of each commit, in order."""

    def __init__(
        self,
        settings: Settings,
        committed: Progress,
        *,
        writers: int = 1,
        on_batch: Callable[[BatchDone], None] | None = None,
    ) -> None:
        self.settings = settings
        self.committed = copy.deepcopy(committed)
        self.on_batch = on_batch
        self._pool = ThreadPoolExecutor(max_workers=writers, thread_name_prefix="backfill-writer")
        self._max_pending = writers + 1
        self._pending: list[_Pending] = []
        self._last_submitted = copy.deepcopy(committed)
        self._last_totals: Future[Counter[str]] = Future()
        self._last_totals.set_result(Counter({k: committed.counts[k] for k in STORE_COUNTS}))

    def submit(self, entries: list[FeedEntry], after: Progress, *, done: int) -> None:
        """Queue a batch; `after` is the progress at its end, store counts not yet added."""
        while len(self._pending) >= self._max_pending:
            self._finish_oldest()
        before, previous = self._last_submitted, self._last_totals
        after = copy.deepcopy(after)
        totals: Future[Counter[str]] = Future()
        future = self._pool.submit(self._write, entries, before, after, previous, totals, done)
        self._pending.append(_Pending(future, totals))
        self._last_submitted, self._last_totals = after, totals

    def drain(self) -> None:
        """Wait for every queued batch; re-raises the first failure."""
        while self._pending:
            self._finish_oldest()

    def close(self) -> None:
        """Let running batches end (they are whole), drop those not started."""
        for pending in self._pending:
            if pending.future.cancel():
                pending.totals.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _finish_oldest(self) -> None:
        done, self.committed = self._pending.pop(0).future.result()
        if self.on_batch is not None:
            self.on_batch(done)

    def _write(
        self,
        entries: list[FeedEntry],
        before: Progress,
        after: Progress,
        previous: Future[Counter[str]],
        totals: Future[Counter[str]],
        done: int,
    ) -> tuple[BatchDone, Progress]:
        try:
            with session_scope(self.settings) as session:
                stats = store_batch(session, entries=entries)
                running = previous.result() + Counter(
                    new=stats.new, updated=stats.updated, unchanged=stats.unchanged
                )
                for name in STORE_COUNTS:
                    after.counts[name] = running[name]
                save_progress(session, before=before, after=after)
                # Only now: the next batch's SELECT .. FOR UPDATE waits for this one's commit.
                totals.set_result(running)
        except BaseException as exc:
            if not totals.done():
                totals.set_exception(exc)
            raise
        return BatchDone(stats.changed_ids, done, after.total, dict(after.counts)), after
