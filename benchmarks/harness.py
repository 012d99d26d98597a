"""What the benchmark scripts share: fresh migrated databases, the machine, figures and tables.

Not a benchmark itself; `ingest.py` and `pages.py` import it (they run with benchmarks/ on sys.path).
"""

from __future__ import annotations

import gc
import itertools
import os
import platform
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.store.db import make_engine
from app.store.migrate import alembic_config

_numbers = itertools.count()


@dataclass(frozen=True, slots=True)
class Target:
    """A database to measure: its name in tables and the URL new databases are made from."""

    name: str  # "SQLite" | "PostgreSQL"
    base_url: str | None  # None: SQLite files in a temporary folder


def targets(postgres_url: str | None, *, require_postgres: bool) -> list[Target]:
    """SQLite always; PostgreSQL when a URL is given (argument, else TEST_DATABASE_URL)."""
    url = postgres_url or os.environ.get("TEST_DATABASE_URL")
    if require_postgres and not url:
        raise SystemExit("--postgres needs TEST_DATABASE_URL or --postgres-url (see tests/services.sh)")
    return [Target("SQLite", None), *([Target("PostgreSQL", url)] if url else [])]


@contextmanager
def fresh_database(target: Target) -> Iterator[str]:
    """A new, empty database migrated to head; removed on exit. Yields its URL."""
    number = next(_numbers)
    if target.base_url is None:
        with tempfile.TemporaryDirectory(prefix="coolpapers-bench-") as folder:
            url = f"sqlite:///{Path(folder) / f'bench-{number}.db'}"
            command.upgrade(alembic_config(url), "heads")
            yield url
        return
    name = f"coolpapers_bench_{os.getpid()}_{number}"
    _admin(target.base_url, f'CREATE DATABASE "{name}"')
    try:
        url = make_url(target.base_url).set(database=name).render_as_string(hide_password=False)
        command.upgrade(alembic_config(url), "heads")
        yield url
    finally:
        _admin(target.base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(base_url: str, statement: str) -> None:
    engine = make_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


@contextmanager
def gc_pauses() -> Iterator[list[tuple[int, float]]]:
    """(generation, milliseconds) of each garbage collection in this process (any thread) while inside."""
    pauses: list[tuple[int, float]] = []
    started = 0.0

    def callback(phase: str, info: dict[str, int]) -> None:
        nonlocal started
        if phase == "start":
            started = time.perf_counter()
        else:
            pauses.append((info["generation"], (time.perf_counter() - started) * 1000))

    gc.callbacks.append(callback)
    try:
        yield pauses
    finally:
        gc.callbacks.remove(callback)


def machine_lines(databases: Sequence[Target]) -> list[str]:
    """CPU, Python and database versions, one `name: value` line each."""
    lines = [
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs ({_cpu_model()}), {load_average()}",
        f"python: {platform.python_version()} ({platform.python_implementation()})",
        f"sqlite: {sqlite3.sqlite_version}",
        f"schema: alembic heads {', '.join(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))}",
    ]
    for target in databases:
        if target.base_url is not None:
            lines.append(f"postgresql: {_server_version(target.base_url)}")
    return lines


def load_average() -> str:
    """The 1-minute load: other processes on a small machine skew every figure."""
    return f"load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "load unknown"


def uptime() -> str:
    """`uptime`'s line (load over 1, 5 and 15 minutes): recorded with each figure on a shared machine."""
    try:
        out = subprocess.run(
            ["uptime"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    return " ".join(out.split()) or load_average()


def load_now() -> str:
    """The 1-minute load as a table cell."""
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "?"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _server_version(base_url: str) -> str:
    engine = make_engine(base_url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SHOW server_version")).scalar_one())
    finally:
        engine.dispose()


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (share in 0..100) of non-empty `values`."""
    ordered = sorted(values)
    rank = max(1, round(share / 100 * len(ordered) + 0.4999))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = [row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])
