"""Benchmark: what cached TL;DRs add to a listing. Target: <= 1 ms more per 100 papers.

A fresh migrated database gets a generated cs.LG day (benchmarks/dayfeed.py, 1,000 papers by
default). The same listing is then rendered in the same run, alternately without TL;DRs (no rows)
and with a ready TL;DR for every paper of the day (a 200-character sentence each, as the model
writes them): the HTML page `/arxiv/cs.LG` and its JSON twin `/api/v1/listings/cs.LG?limit=N`,
in-process through `fastapi.testclient.TestClient` (the app's own code path), the page cache emptied
before each request (so every request reads the day, loads the papers and their TL;DRs, and renders).
Rounds alternate the two states (rows deleted / inserted between rounds, outside the timing) so load
on this shared machine falls on both alike. Printed: median and p90 per state, the difference per 100
papers, and the SQL statements one request runs in each state (equal: TL;DRs are loaded for the
whole page in one query, never once per paper).

    .venv/bin/python benchmarks/tldr.py                  # SQLite, 1,000 papers
    .venv/bin/python benchmarks/tldr.py --papers 2000 --rounds 6 --requests 10
    TEST_DATABASE_URL=postgresql+psycopg://... .venv/bin/python benchmarks/tldr.py   # and PostgreSQL
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import dayfeed
import harness
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, event, insert, select
from sqlalchemy.orm import Session

from app.arxiv.parse import parse_feed
from app.config import get_settings
from app.httpcache import kept_responses
from app.store.db import make_engine
from app.store.ingest import ingest_feed
from app.store.migrate import alembic_config
from app.store.models import Paper, Tldr
from app.summarize.prompts import TLDR_VERSION

CATEGORY = "cs.LG"
TARGET_MS_PER_100 = 1.0
SENTENCE = (
    "The paper proposes a sparse routing objective that trains mixture-of-experts transformers 1.8 "
    "times faster than dense baselines while matching their perplexity on three language benchmarks."
)


def load_day(url: str, size: int) -> list[int]:
    engine = make_engine(url)
    try:
        with Session(engine) as session, session.begin():
            ingest_feed(
                session,
                feed=parse_feed(dayfeed.build_day(size, categories=(CATEGORY,))),
                categories=[CATEGORY],
            )
            return list(session.scalars(select(Paper.id)))
    finally:
        engine.dispose()


def set_tldrs(engine: Engine, paper_ids: list[int], *, present: bool) -> None:
    with Session(engine) as session, session.begin():
        session.execute(delete(Tldr))
        if present:
            now = dt.datetime.now(dt.UTC)
            rows = [{"paper_id": pid, "model": "bench-llm", "prompt_version": TLDR_VERSION, "status": "ready",
                     "text": SENTENCE, "requester": "bench", "attempts": 1, "created_at": now,
                     "updated_at": now} for pid in paper_ids]  # fmt: skip
            session.execute(insert(Tldr), rows)


@contextmanager
def counted_statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def timed(get: Callable[[], object]) -> tuple[float, float]:
    """One request rendered anew: (wall ms, CPU ms of this process, every thread: the app and SQLite)."""
    kept_responses().clear()  # every request renders: the cost measured is the render's
    wall, cpu = time.perf_counter(), time.process_time()
    get()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


@contextmanager
def fresh_database(target: harness.Target, folder: str) -> Iterator[str]:
    """harness.fresh_database for PostgreSQL; for SQLite a file migrated to every head (branches of
    parallel work coexist until they are linearised)."""
    if target.base_url is not None:
        with harness.fresh_database(target) as url:
            yield url
        return
    url = f"sqlite:///{Path(folder) / 'bench.db'}"
    command.upgrade(alembic_config(url), "heads")
    yield url


def bench(target: harness.Target, args: argparse.Namespace) -> bool:
    with tempfile.TemporaryDirectory() as data_dir, fresh_database(target, data_dir) as url:
        paper_ids = load_day(url, args.papers)
        os.environ["DATABASE_URL"], os.environ["DATA_DIR"] = url, data_dir
        get_settings.cache_clear()
        from app.main import create_app
        from app.store.db import get_sessionmaker

        engine = get_sessionmaker(get_settings()).kw["bind"]
        paths = {"page": f"/arxiv/{CATEGORY}", "api": f"/api/v1/listings/{CATEGORY}?limit={args.papers}"}
        times: dict[tuple[str, bool], list[tuple[float, float]]] = {
            (k, s): [] for k in paths for s in (False, True)
        }
        statements: dict[tuple[str, bool], int] = {}
        with TestClient(create_app()) as client:
            for present in (False, True):  # warm-up, and a check that the TL;DRs are shown
                set_tldrs(engine, paper_ids, present=present)
                for kind, path in paths.items():
                    for _ in range(3):
                        timed(partial(client.get, path))
                    with counted_statements(engine) as seen:
                        kept_responses().clear()
                        body = client.get(path).text
                    statements[(kind, present)] = len(seen)
                    assert (SENTENCE in body) == present, (
                        f"{kind}: TL;DRs {'missing' if present else 'shown'}"
                    )
            # Pairs, in alternating order: whatever else the machine does falls on both states alike.
            for index in range(args.requests):
                for present in (index % 2 == 0, index % 2 == 1):
                    set_tldrs(engine, paper_ids, present=present)
                    for kind, path in paths.items():
                        times[(kind, present)].append(timed(partial(client.get, path)))
        get_settings.cache_clear()
    rows, met = [], True
    for kind in paths:
        for clock, column in (("CPU", 1), ("wall", 0)):
            without = [t[column] for t in times[(kind, False)]]
            with_ = [t[column] for t in times[(kind, True)]]
            # The median of the paired differences: each pair ran back to back.
            per_100 = harness.median([b - a for a, b in zip(without, with_, strict=True)]) / args.papers * 100
            if clock == "CPU":
                met = met and per_100 <= TARGET_MS_PER_100
            rows.append([
                f"{kind} {clock}", f"{harness.median(without):.1f}", f"{harness.percentile(without, 90):.1f}",
                f"{harness.median(with_):.1f}", f"{harness.percentile(with_, 90):.1f}", f"{per_100:+.3f}",
                f"{statements[(kind, False)]} / {statements[(kind, True)]}",
            ])  # fmt: skip
    print(f"\n{target.name}: {args.papers}-paper {CATEGORY} day, {args.requests} request pairs, "
          f"load {harness.load_now()}; page {paths['page']}, api {paths['api']}")  # fmt: skip
    headers = ["listing", "without ms", "p90", "with ms", "p90", "ms / 100 papers", "SQL w/o / with"]
    print(harness.table(headers, rows))
    print(f"target (CPU time): <= {TARGET_MS_PER_100:g} ms more per 100 papers: {'met' if met else 'MISSED'}")
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=30, help="request pairs (without, with) per listing")
    parser.add_argument("--postgres-url", default=None)
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, {harness.load_average()}")
    results = [bench(target, args) for target in harness.targets(args.postgres_url, require_postgres=False)]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
