"""Benchmark: store a whole arXiv day (2,500 entries of a 2024+ RSS 2.0 feed) and store it again.

For each database (SQLite in a temporary file; PostgreSQL when TEST_DATABASE_URL or --postgres-url
gives a server) it times, with time.perf_counter:

  (a) parse alone (`parse_feed` on the feed's bytes), and its peer: feedparser.parse on the same
      bytes (what most feed readers use; it builds dicts only, no records), with the ratio;
  (b) parse + upsert: `ingest_feed` in one committed transaction, on a fresh migrated database each run;
  (c) re-ingest: the same bytes again on that database; nothing may change (0 new papers, 0 listings).

Targets: (b) < 2 s, (c) < 1 s. The feed comes from benchmarks/dayfeed.py (real papers, new ids).

Run:
    make bench                                                        # SQLite (and pages.py)
    .venv/bin/python benchmarks/ingest.py                             # SQLite only
    tests/services.sh .venv/bin/python benchmarks/ingest.py --postgres  # SQLite and PostgreSQL
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import dayfeed
import harness
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.arxiv.parse import parse_feed
from app.store.db import make_engine
from app.store.ingest import IngestReport, ingest_feed

TARGET_INGEST_S = 2.0
TARGET_REINGEST_S = 1.0


@dataclass
class Timings:
    """Seconds per run of each step on one database."""

    parse: list[float] = field(default_factory=list)
    feedparser: list[float] = field(default_factory=list)
    ingest: list[float] = field(default_factory=list)
    ingest_store: list[float] = field(default_factory=list)
    reingest: list[float] = field(default_factory=list)
    reingest_store: list[float] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)


def timed_ingest(engine: Engine, data: bytes) -> tuple[float, float, IngestReport]:
    """Parse and store `data` in one committed transaction: (total s, store-and-commit s, report)."""
    started = time.perf_counter()
    feed = parse_feed(data)
    parsed = time.perf_counter()
    with Session(engine, expire_on_commit=False) as session, session.begin():
        report = ingest_feed(session, feed=feed)
    done = time.perf_counter()
    return done - started, done - parsed, report


def time_parse(data: bytes, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        parse_feed(data)
        times.append(time.perf_counter() - started)
    return times


def time_feedparser(data: bytes, runs: int) -> list[float]:
    import feedparser

    times = []
    for _ in range(runs):
        started = time.perf_counter()
        parsed = feedparser.parse(data)
        times.append(time.perf_counter() - started)
        assert len(parsed.entries) > 0, "feedparser read no entry"
    return times


def bench_database(target: harness.Target, data: bytes, runs: int) -> Timings:
    """(a) on its own (and its peer), then (b) and (c) on a fresh migrated database per run."""
    timings = Timings(parse=time_parse(data, runs), feedparser=time_feedparser(data, runs))
    for _ in range(runs):
        with harness.fresh_database(target) as url:
            engine = make_engine(url)
            try:
                with engine.connect():
                    pass  # open the pooled connection outside the timings
                total, store, first = timed_ingest(engine, data)
                timings.ingest.append(total)
                timings.ingest_store.append(store)
                total, store, again = timed_ingest(engine, data)
                timings.reingest.append(total)
                timings.reingest_store.append(store)
            finally:
                engine.dispose()
        assert again.new == 0 and again.listings == 0, f"re-ingest changed something: {again}"
        timings.reports = [f"first: {first.summary()}", f"again: {again.summary()}"]
    return timings


def result_table(timings: Timings) -> str:
    def row(name: str, values: Sequence[float], target: float | None) -> list[object]:
        verdict = "" if target is None else ("ok" if harness.median(values) < target else "MISSED")
        goal = "" if target is None else f"< {target:g} s"
        cells = (harness.median(values), min(values), max(values))
        return [name, *(f"{value:.3f} s" for value in cells), goal, verdict]

    rows = [
        row("(a) parse alone", timings.parse, None),
        row("    peer: feedparser.parse", timings.feedparser, None),
        row("(b) parse + upsert, fresh DB", timings.ingest, TARGET_INGEST_S),
        row("    of which upsert + commit", timings.ingest_store, None),
        row("(c) re-ingest, nothing changes", timings.reingest, TARGET_REINGEST_S),
        row("    of which upsert + commit", timings.reingest_store, None),
    ]
    return harness.table(["step", "median", "best", "worst", "target", ""], rows)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=2500, help="entries in the day (default 2500)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each step (default 5)")
    parser.add_argument("--postgres-url", help="PostgreSQL server URL (default: $TEST_DATABASE_URL)")
    parser.add_argument("--postgres", action="store_true", help="fail unless PostgreSQL is available")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    databases = harness.targets(args.postgres_url, require_postgres=args.postgres)
    data = dayfeed.build_day(args.size)
    print("\n".join(harness.machine_lines(databases)))
    print(f"feed: {args.size:,} entries, {len(data) / 1e6:.1f} MB RSS 2.0; {args.runs} runs per step")
    for target in databases:
        print(f"\n{target.name} ({harness.load_average()} before)")
        timings = bench_database(target, data, args.runs)
        print(result_table(timings))
        ratio = harness.median(timings.feedparser) / harness.median(timings.parse)
        print(f"parse: {ratio:.1f}x faster than feedparser (medians)")
        print("\n".join(timings.reports))


if __name__ == "__main__":
    main()
