"""Benchmark: `coolpapers backfill --snapshot` on a generated snapshot of N records (default 1,000,000).

The snapshot is shaped like the real one: every record is made of real records' fields from
tests/data/snapshot/ (title, abstract, authors and authors_parsed, categories, versions, dates of
different real papers mixed, so the lengths and the text are real) under a new, unique arXiv id.
It is written to a temporary file, then imported with `import_snapshot` (what the command runs,
without embedding) into a fresh migrated database: SQLite in a temporary folder, and PostgreSQL
when TEST_DATABASE_URL or --postgres-url gives a server. For each it prints the import rate
(records/s), the total time, the database size, the projection for all of arXiv (3.0M records),
and the CPU time per record in this process and in the PostgreSQL server (read from /proc), which
says what the machine can do when other processes share its cores.

Target: 3.0M records in under 15 minutes on PostgreSQL (>= 3,400 records/s).

Run:
    .venv/bin/python benchmarks/backfill.py --records 100000                 # SQLite only
    SERVICES_DIR=/tmp/bf-services TEST_PG_PORT=54700 TEST_REDIS_PORT=64200 \
        tests/services.sh .venv/bin/python benchmarks/backfill.py          # SQLite and PostgreSQL
Options: --records N, --batch N, --writers N (PostgreSQL connections), --postgres-only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import harness
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.config import Settings
from app.store.backfill import SnapshotOptions, import_snapshot
from app.store.backfill.snapshot import default_writers
from app.store.db import make_engine

SAMPLE = (
    Path(__file__).resolve().parent.parent / "tests/data/snapshot/arxiv-metadata-oai-snapshot.head200.jsonl"
)
ALL_OF_ARXIV = 3_000_000
TARGET_S = 15 * 60
PER_MONTH = 20_000  # ids per yymm: arXiv's busiest months are about this size


def generate_snapshot(path: Path, records: int) -> int:
    """Write `records` JSON lines made of the sample's real fields; returns the file size."""
    sample = [json.loads(line) for line in SAMPLE.read_bytes().splitlines() if line.strip()]
    n = len(sample)
    with path.open("w", encoding="utf-8") as out:
        for i in range(records):
            base, text_of, people, cats = (sample[(i * k + k) % n] for k in (1, 7, 13, 31))
            record: dict[str, Any] = dict(base)
            record["id"] = _new_id(i)
            record["title"] = text_of["title"]
            record["abstract"] = text_of["abstract"]
            record["authors"] = people["authors"]
            record["authors_parsed"] = people["authors_parsed"]
            record["categories"] = cats["categories"]
            out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
    return path.stat().st_size


def _new_id(i: int) -> str:
    """Unique new-style ids from 1501.00001 on, PER_MONTH a month."""
    month, number = divmod(i, PER_MONTH)
    year, mon = divmod(month, 12)
    return f"{15 + year:02d}{mon + 1:02d}.{number + 1:05d}"


def database_size(url: str) -> int:
    if url.startswith("sqlite"):
        db = Path(make_url(url).database or "")
        return sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
    finally:
        engine.dispose()


def bench(
    target: harness.Target, snapshot: Path, batch: int, writers: int | None, data_dir: Path
) -> list[object]:
    with harness.fresh_database(target) as url:
        settings = Settings(_env_file=None, database_url=url, data_dir=data_dir)  # type: ignore[call-arg]
        used_writers = writers or default_writers(settings)
        server = _server_cpu(url)
        own = _own_cpu()
        started = time.perf_counter()
        report = import_snapshot(settings, SnapshotOptions(path=snapshot, batch=batch, writers=writers))
        seconds = time.perf_counter() - started
        own = _own_cpu() - own
        server = _server_cpu(url) - server
        records = report.counts.get("records", 0)
        rate = records / seconds
        size = database_size(url)
    projected = ALL_OF_ARXIV / rate
    verdict = "met" if projected < TARGET_S else "MISSED"
    print(f"{target.name}: {report.summary()}", flush=True)
    print(
        f"{target.name}: {used_writers} writer(s), CPU per record {own / records * 1e6:,.0f} us in this process"
        + (f" + {server / records * 1e6:,.0f} us in the PostgreSQL server" if server else ""),
        flush=True,
    )
    return [
        target.name,
        f"{report.counts.get('new', 0):,}",
        f"{seconds:.1f}",
        f"{rate:,.0f}",
        f"{size / 1e9:.2f} GB",
        f"{projected / 60:.1f} min",
        verdict if target.name == "PostgreSQL" else "-",
    ]


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _server_cpu(url: str) -> float:
    """CPU seconds used so far by the PostgreSQL server of `url` (0 for SQLite, or without /proc).

    The postmaster's own and reaped children's times, plus those of its live backends.
    """
    if url.startswith("sqlite") or not Path("/proc/self/stat").exists():
        return 0.0
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            backend = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    finally:
        engine.dispose()
    postmaster = _proc_stat(backend)[1]
    tick = os.sysconf("SC_CLK_TCK")
    total = sum(_proc_stat(postmaster)[11:15])
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = _proc_stat(int(stat.parent.name))
        except (OSError, ValueError):
            continue
        if fields[1] == postmaster:
            total += fields[11] + fields[12]
    return total / tick


def _proc_stat(pid: int) -> list[int]:
    """The numeric fields of /proc/PID/stat after the command name, from `ppid` (index 1) on."""
    rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return [0, *(int(v) if v.lstrip("-").isdigit() else 0 for v in rest[1:])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="records in the generated snapshot")
    parser.add_argument("--batch", type=int, default=5000, help="records per committed batch (--batch)")
    parser.add_argument("--writers", type=int, help="connections writing at once (default: the importer's)")
    parser.add_argument("--postgres-url", help="server to create benchmark databases on")
    parser.add_argument("--postgres-only", action="store_true", help="skip SQLite")
    args = parser.parse_args()
    targets = harness.targets(args.postgres_url, require_postgres=args.postgres_only)
    if args.postgres_only:
        targets = [t for t in targets if t.name == "PostgreSQL"]
    for line in harness.machine_lines(targets):
        print(line)
    with tempfile.TemporaryDirectory(prefix="coolpapers-backfill-") as folder:
        snapshot = Path(folder) / "arxiv-metadata-oai-snapshot.json"
        started = time.perf_counter()
        size = generate_snapshot(snapshot, args.records)
        print(
            f"snapshot: {args.records:,} records, {size / 1e6:,.0f} MB "
            f"({size / args.records:,.0f} B a record), generated in {time.perf_counter() - started:.1f} s"
        )
        rows = [
            bench(target, snapshot, args.batch, args.writers, Path(folder) / "data") for target in targets
        ]
    print()
    print(
        harness.table(
            ["database", "records", "seconds", "records/s", "DB size", "3.0M projected", "< 15 min"], rows
        )
    )
    print(f"{harness.load_average()} at the end")


if __name__ == "__main__":
    main()
