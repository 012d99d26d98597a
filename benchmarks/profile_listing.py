"""Where the time of a listing page goes: SQL on the driver, ORM objects, Jinja, the framework.

Used by `pages.py` when the listing page misses its target (or with `--profile`); it also runs on
its own against whatever database the app's settings point at:

    DATABASE_URL=sqlite:////tmp/x.db .venv/bin/python benchmarks/profile_listing.py cs.LG

Requests go through the whole ASGI app (httpx.ASGITransport) in this thread: what Starlette would
send to its threadpool runs inline, so cProfile sees the route handler, its dependencies and the
template. Nothing here depends on the handler's signature. Time per area is cProfile's own time
(tottime) summed by the file each function lives in; cProfile roughly doubles call-heavy code
such as Jinja's, so read the areas as shares, and the phase table (no profiler) as milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import anyio.to_thread
import harness
import httpx
from fastapi import FastAPI
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from app.store.db import get_sessionmaker
from app.store.listings import parse_category_expression, read_listing

RUNS = 50
_AREAS = (
    ("sqlalchemy", "SQLAlchemy (Core + ORM)"),
    ("psycopg", "database driver"),
    ("sqlite3", "database driver"),
    ("jinja2", "Jinja (engine, runtime)"),
    ("markupsafe", "Jinja (autoescape)"),
    (".html", "Jinja (compiled templates)"),
    ("json", "JSON decoding"),
    ("urllib", "urlencode filter (urllib.parse)"),
    ("/app/", "app code"),
    ("fastapi", "FastAPI / Starlette / httpx / asyncio"),
    ("starlette", "FastAPI / Starlette / httpx / asyncio"),
    ("httpx", "FastAPI / Starlette / httpx / asyncio"),
    ("asyncio", "FastAPI / Starlette / httpx / asyncio"),
    ("anyio", "FastAPI / Starlette / httpx / asyncio"),
)
Statement = tuple[str, Any]
Stats = dict[tuple[str, int, str], tuple[Any, ...]]


@contextmanager
def threadpool_inline() -> Iterator[None]:
    """Run what Starlette and FastAPI hand to `anyio.to_thread.run_sync` in the calling thread."""
    original = anyio.to_thread.run_sync

    async def inline(func: Callable[..., Any], *args: Any, **_options: Any) -> Any:
        return func(*args)

    anyio.to_thread.run_sync = inline  # type: ignore[assignment]
    try:
        yield
    finally:
        anyio.to_thread.run_sync = original


def request_times(
    app: FastAPI, path: str, runs: int, profiler: cProfile.Profile | None = None
) -> list[float]:
    """Seconds per GET of `path` through the ASGI app, all in this thread."""

    async def requests() -> list[float]:
        transport = httpx.ASGITransport(app=app)
        times = []
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for _ in range(runs):
                started = time.perf_counter()
                response = await client.get(path)
                times.append(time.perf_counter() - started)
                assert response.status_code == 200, f"{path}: HTTP {response.status_code}"
        return times

    with threadpool_inline():
        if profiler is None:
            return asyncio.run(requests())
        return profiler.runcall(asyncio.run, requests())  # type: ignore[no-any-return]


def captured_sql(maker: sessionmaker[Session], category: str) -> list[Statement]:
    """The statements (and parameters) one read_listing() sends to the database."""
    engine: Engine = maker.kw["bind"]
    statements: list[Statement] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        with maker() as session:
            read_listing(session, parse_category_expression(category))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return statements


def time_raw_sql(engine: Engine, statements: Sequence[Statement]) -> list[float]:
    """The same statements on a raw DBAPI cursor: database + driver, no SQLAlchemy."""
    raw = engine.raw_connection()
    times = []
    try:
        for _ in range(RUNS):
            started = time.perf_counter()
            cursor = raw.cursor()
            for statement, parameters in statements:
                cursor.execute(statement, parameters)
                cursor.fetchall()
            cursor.close()
            times.append(time.perf_counter() - started)
        raw.rollback()
    finally:
        raw.close()
    return times


def time_read_listing(maker: sessionmaker[Session], category: str) -> list[float]:
    """read_listing() with a fresh session each time, as each request gets one."""
    query = parse_category_expression(category)
    times = []
    for _ in range(RUNS):
        with maker() as session:
            started = time.perf_counter()
            read_listing(session, query)
            times.append(time.perf_counter() - started)
    return times


def phase_table(app: FastAPI, category: str, request_ms: Sequence[float]) -> str:
    """Each phase's median, adding one layer at a time, from raw SQL to the whole request."""
    maker = get_sessionmaker()
    statements = captured_sql(maker, category)
    phases = [
        (f"SQL alone: {len(statements)} statements, raw driver", time_raw_sql(maker.kw["bind"], statements)),
        ("read_listing(): + SQLAlchemy, rows -> Paper", time_read_listing(maker, category)),
        (
            "whole request, this thread: + handler, Jinja, FastAPI",
            request_times(app, f"/arxiv/{category}", RUNS),
        ),
        ("whole request via TestClient: + threadpool hops", [ms / 1000 for ms in request_ms]),
    ]
    rows, before = [], 0.0
    for name, seconds in phases:
        ms = harness.median(seconds) * 1000
        rows.append([name, f"{ms:.1f}", f"{ms - before:+.1f}" if before else ""])
        before = ms
    return harness.table(["phase (median of each, no profiler)", "ms", "added"], rows)


def profile_tables(app: FastAPI, category: str, top: int = 12) -> str:
    profiler = cProfile.Profile()
    request_times(app, f"/arxiv/{category}", RUNS, profiler)
    stats: Stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    return "\n\n".join([_area_table(stats), _cumulative_table(stats), _own_table(stats, top)])


def _area_table(stats: Stats) -> str:
    areas: dict[str, float] = defaultdict(float)
    for (filename, _line, name), (_cc, _nc, own, *_rest) in stats.items():
        where = name if filename == "~" else filename
        areas[next((area for needle, area in _AREAS if needle in where), "Python builtins, other")] += own
    total = sum(areas.values())
    rows = [
        [area, f"{own / RUNS * 1000:.1f}", f"{own / total:.0%}"]
        for area, own in sorted(areas.items(), key=lambda item: -item[1])
    ]
    return harness.table(["area (cProfile own time per page)", "ms", "share"], rows)


def _cumulative_table(stats: Stats) -> str:
    """Cumulative time of the app's functions and of the big steps they call, per page."""
    wanted = [
        key
        for key in stats
        if "/app/" in key[0]
        or (key[0].endswith("jinja2/environment.py") and key[2] == "render")
        or (key[0].endswith("orm/session.py") and key[2] == "commit")
    ]
    wanted.sort(key=lambda key: -stats[key][3])
    rows = [
        [_short(key), f"{stats[key][3] / RUNS * 1000:.1f}", str(stats[key][1] // RUNS)] for key in wanted[:12]
    ]
    return harness.table(["app function or step (cumulative)", "ms", "calls"], rows)


def _own_table(stats: Stats, top: int) -> str:
    heaviest = sorted(stats.items(), key=lambda item: -item[1][2])[:top]
    rows = [
        [_short(key), f"{value[2] / RUNS * 1000:.2f}", f"{value[3] / RUNS * 1000:.2f}", str(value[1] // RUNS)]
        for key, value in heaviest
    ]
    return harness.table(["function (by own time)", "own ms", "cum ms", "calls"], rows)


def _short(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    if filename == "~":
        return name[:70]
    return f"{'/'.join(filename.split('/')[-2:])}:{line} {name}"[:70]


def report(app: FastAPI, category: str, request_ms: Sequence[float]) -> str:
    """The phase table and the cProfile tables for one category's listing page."""
    heading = f"Listing page /arxiv/{category} broken down ({RUNS} requests per figure)"
    return "\n\n".join([heading, phase_table(app, category, request_ms), profile_tables(app, category)])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("category", nargs="?", default="cs.LG", help="category of the listing page")
    args = parser.parse_args()
    from fastapi.testclient import TestClient

    from app.main import create_app

    app = create_app()
    with TestClient(app) as client:
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            client.get(f"/arxiv/{args.category}")
            times.append((time.perf_counter() - started) * 1000)
    print(report(app, args.category, times))


if __name__ == "__main__":
    main()
