"""Import the Kaggle / Cornell ``arxiv-metadata-oai-snapshot.json`` (JSON lines, also gzipped).

The file is streamed line by line (a line is never read past `MAX_RECORD_BYTES`); records pass the
filters, then go in batches to the idempotent upsert, each batch committed with the byte offset and
line number reached. A rerun with the same file (path, size, mtime) and filters continues there.
Malformed records are counted by reason, logged with their line number and skipped.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import fnmatch
import gzip
import io
import json
import logging
import os
import re
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from app.arxiv.ids import split_arxiv_id
from app.arxiv.snapshot import parse_snapshot_line
from app.arxiv.types import FeedEntry
from app.config import Settings
from app.errors import FeedParseError
from app.store.backfill.progress import (
    SKIPPED,
    SKIPPED_LINES_KEPT,
    BackfillReport,
    BatchDone,
    Progress,
    open_progress,
    report_of,
    source_key,
)
from app.store.backfill.write import BatchWriter
from app.store.db import session_scope

log = logging.getLogger(__name__)

MAX_RECORD_BYTES = 2_000_000  # the largest real records (5,000-author papers) are ~0.3 MB
MAX_TITLE_CHARS = 10_000
MAX_ABSTRACT_CHARS = 100_000
MAX_AUTHORS = 20_000
IDLE_FLUSH_FACTOR = 4  # commit progress after batch * this many lines even when all were filtered out
SKIPS_LOGGED = 20  # skipped lines logged one by one per run; the report counts every one
_ID_FIELD = re.compile(rb'\s*\{\s*"id"\s*:\s*"([^"\\]{1,100})"')

OnBatch = Callable[[BatchDone], None]


@dataclass(frozen=True, slots=True)
class SnapshotOptions:
    path: Path
    categories: tuple[str, ...] = ()  # fnmatch patterns ("cs.*", "stat.ML"): any category may match
    since: dt.date | None = None  # keep records updated (or first submitted) on or after this day
    batch: int = 5000
    restart: bool = False  # forget saved progress and import from the first line
    writers: int | None = None  # connections writing at once (default_writers)


@dataclass(frozen=True, slots=True)
class _Skip:
    reason: str  # too_large | broken_json | missing_fields | bad_id | duplicate_id | bad_text | unreadable
    detail: str


def import_snapshot(
    settings: Settings, options: SnapshotOptions, *, on_batch: OnBatch | None = None
) -> BackfillReport:
    """Import (or go on importing) a snapshot file; `on_batch` is told after each commit."""
    if options.batch < 1:
        raise ValueError("batch must be at least 1")
    started = time.perf_counter()
    stat = options.path.stat()
    key, source = source_key(
        "snapshot",
        {
            "path": str(options.path.resolve()),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "categories": sorted(options.categories),
            "since": options.since.isoformat() if options.since else None,
        },
    )
    with session_scope(settings) as session:
        progress = open_progress(
            session, kind="snapshot", key=key, source=source, total=stat.st_size, restart=options.restart
        )
    if progress.finished_at is not None:
        return report_of("snapshot", progress, already_finished=True)
    writers = options.writers or default_writers(settings)
    writer = BatchWriter(settings, progress, writers=writers, on_batch=on_batch)
    importer = _Importer(options, progress, writer)
    try:
        with _Source(options.path) as src:
            importer.run(src)
        writer.drain()
    finally:
        writer.close()
    return report_of(
        "snapshot",
        writer.committed,
        seconds=time.perf_counter() - started,
        records_this_run=importer.records_this_run,
    )


def default_writers(settings: Settings) -> int:
    """SQLite has one writer at a time; PostgreSQL computes each batch's tsvectors on its own core."""
    if not settings.sqlalchemy_url.startswith("postgresql"):
        return 1
    return min(4, max(2, os.cpu_count() or 2))


class _Source:
    """A plain or gzipped file, read line by line; a line longer than the limit comes as None."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._raw = io.BufferedReader(io.FileIO(path, "r"), buffer_size=1 << 20)  # closed in __exit__
        gzipped = self._raw.peek(2)[:2] == b"\x1f\x8b"
        self._stream: io.BufferedIOBase = (
            gzip.GzipFile(fileobj=self._raw, mode="rb") if gzipped else self._raw
        )

    def lines(self) -> Iterator[tuple[bytes | None, int]]:
        """(line, its size in bytes), the line None when it exceeds MAX_RECORD_BYTES."""
        limit = MAX_RECORD_BYTES + 1  # + the newline
        read = self._stream.readline
        try:
            while line := read(limit):
                if len(line) < limit or line.endswith(b"\n"):
                    yield line, len(line)
                    continue
                size = len(line)
                while not line.endswith(b"\n") and (line := read(1 << 20)):
                    size += len(line)
                yield None, size
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise FeedParseError(f"{self.path}: broken gzip stream ({exc})") from exc

    def bytes_read(self) -> int:
        """How far into the file on disk (compressed bytes for .gz): what the progress bar shows."""
        return self._raw.tell()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stream.close()
        self._raw.close()


class _Importer:
    """The import loop: classify, filter, batch, and commit each batch with the progress."""

    def __init__(self, options: SnapshotOptions, progress: Progress, writer: BatchWriter) -> None:
        self.options = options
        self.committed = progress
        self.working = copy.deepcopy(progress)
        self.writer = writer
        self.seen: set[str] = set()  # ids of the records accepted so far: later copies are duplicates
        self.pending: list[FeedEntry] = []
        self.records_this_run = 0
        self._logged = 0  # skipped lines logged this run
        self._wanted_category = category_matcher(options.categories)
        self._since = dt.datetime.combine(options.since, dt.time(), dt.UTC) if options.since else None

    def run(self, src: _Source) -> None:
        resume_line = self.committed.line
        replay_skipped = set(self.committed.skipped_lines)
        fast_replay = self.committed.skipped_lines_complete
        line_no = position = 0
        last_flush = resume_line
        for raw, size in src.lines():
            line_no += 1
            position += size
            if line_no <= resume_line:
                if line_no not in replay_skipped:
                    self._replay(raw, fast=fast_replay)
                if line_no == resume_line and position != self.committed.position:
                    raise FeedParseError(f"{src.path} changed since the last run: use --restart")
                continue
            self._take(line_no, raw)
            if len(self.pending) >= self.options.batch or line_no - last_flush >= self._idle_lines:
                self._flush(line_no, position, src.bytes_read(), finished=False)
                last_flush = line_no
        if line_no < resume_line:
            raise FeedParseError(f"{src.path} is shorter than when it was last read: use --restart")
        skipped = sum(n for name, n in self.working.counts.items() if name.startswith(SKIPPED))
        if self.working.counts["records"] == skipped:  # an empty file, or not one record readable
            raise FeedParseError(
                f"{src.path}: none of its {skipped} line(s) is a record of arXiv's metadata snapshot "
                "(JSON lines, as Kaggle's arxiv-metadata-oai-snapshot.json): nothing stored"
            )
        self._flush(line_no, position, src.bytes_read(), finished=True)

    @property
    def _idle_lines(self) -> int:
        return self.options.batch * IDLE_FLUSH_FACTOR

    def _take(self, line_no: int, raw: bytes | None) -> None:
        if raw is not None and raw.isspace():
            return
        self.working.counts["records"] += 1
        self.records_this_run += 1
        outcome = self._classify(raw)
        if isinstance(outcome, _Skip):
            self._skip(line_no, outcome)
        elif self._wanted(outcome):
            self.pending.append(outcome)
        else:
            self.working.counts["filtered"] += 1

    def _replay(self, raw: bytes | None, *, fast: bool) -> None:
        """A line done by an earlier run: only its id matters (to find duplicates further on)."""
        if raw is None or raw.isspace():
            return
        if fast and (match := _ID_FIELD.match(raw)):
            try:
                self.seen.add(split_arxiv_id(match.group(1).decode())[0])
                return
            except (FeedParseError, UnicodeDecodeError):
                pass
        self._classify(raw)

    def _classify(self, raw: bytes | None) -> FeedEntry | _Skip:
        if raw is None:
            return _Skip("too_large", f"longer than {MAX_RECORD_BYTES:,} bytes")
        try:
            entry = parse_snapshot_line(raw)
        except FeedParseError as exc:
            return _failure(raw, exc)
        if (broken := _unencodable_field(entry)) is not None:
            return _Skip("bad_text", f"{entry.arxiv_id}: {broken} holds a lone surrogate (not UTF-8)")
        if not entry.title or not entry.abstract or not entry.categories:
            missing = [name for name in ("title", "abstract", "categories") if not getattr(entry, name)]
            return _Skip("missing_fields", f"{entry.arxiv_id}: no {', '.join(missing)}")
        if (
            len(entry.title) > MAX_TITLE_CHARS
            or len(entry.abstract) > MAX_ABSTRACT_CHARS
            or len(entry.authors) > MAX_AUTHORS
        ):
            return _Skip("too_large", f"{entry.arxiv_id}: title, abstract or author list beyond the limits")
        if entry.arxiv_id in self.seen:
            return _Skip("duplicate_id", f"{entry.arxiv_id} came earlier in the file")
        self.seen.add(entry.arxiv_id)
        return entry

    def _wanted(self, entry: FeedEntry) -> bool:
        if self._wanted_category is not None and not any(map(self._wanted_category, entry.categories)):
            return False
        if self._since is None:
            return True
        when = entry.updated_at or entry.published_at
        return when is not None and when >= self._since

    def _skip(self, line_no: int, skip: _Skip) -> None:
        self.working.counts[SKIPPED + skip.reason] += 1
        if len(self.working.skipped_lines) < SKIPPED_LINES_KEPT:
            self.working.skipped_lines.append(line_no)
        self._logged += 1
        if self._logged <= SKIPS_LOGGED:  # the report counts them all, by reason
            log.warning(
                "snapshot line %d skipped (%s): %s",
                line_no,
                skip.reason,
                skip.detail,
                extra={"path": str(self.options.path), "line": line_no, "reason": skip.reason},
            )
        elif self._logged == SKIPS_LOGGED + 1:
            log.warning("more snapshot lines skipped: not logged one by one (the report counts them)")

    def _flush(self, line_no: int, position: int, bytes_read: int, *, finished: bool) -> None:
        self.working.line, self.working.position = line_no, position
        self.working.finished_at = dt.datetime.now(dt.UTC) if finished else None
        self.writer.submit(self.pending, self.working, done=bytes_read)
        self.pending = []


def _unencodable_field(entry: FeedEntry) -> str | None:
    """The first field no database can store: valid JSON may escape a lone surrogate ("\\ud800"),
    which Python decodes into a str that UTF-8 cannot encode (the batch would fail on every rerun)."""
    for field in dataclasses.fields(entry):
        value = getattr(entry, field.name)
        texts = value if isinstance(value, tuple | list) else (value,)
        for text in texts:
            if isinstance(text, str) and not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    return field.name
    return None


def _failure(raw: bytes, exc: FeedParseError) -> _Skip:
    """Why `parse_snapshot_line` refused a line, as one of the reasons counted."""
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        return _Skip("broken_json", f"{type(err).__name__}: {err}"[:200])
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or "title" not in obj:
        return _Skip("missing_fields", "no 'id' or 'title'")
    try:
        split_arxiv_id(obj["id"])
    except FeedParseError as err:
        return _Skip("bad_id", str(err))
    return _Skip("unreadable", str(exc))


def category_matcher(patterns: Sequence[str]) -> Callable[[str], bool] | None:
    """One compiled regex for all the fnmatch patterns (case-sensitive, as arXiv's categories)."""
    if not patterns:
        return None
    joined = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))
    return lambda category: joined.match(category) is not None
