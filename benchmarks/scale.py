"""Benchmark: the web tier at a million papers in PostgreSQL with a million-vector index.

Loads (unless the database already holds them; `--reload` starts again):
1. N papers (default 1,000,000) from a generated snapshot shaped like the real one
   (benchmarks/backfill.py's generator: real titles, abstracts, authors mixed under new ids), imported
   by `import_snapshot`, what `coolpapers backfill --snapshot` runs;
2. one announcement day of 1,000 generated papers in cs.LG and its cross-lists (benchmarks/dayfeed.py)
   ingested as the daily feed is, so the listing page has a realistic day;
3. a clustered, normalised 384-d vector per paper (benchmarks/search.py's generator: the shape of real
   embeddings; the text of a query is embedded by the real bundled model), COPY'd into `embeddings`;
4. the FAISS index built by `rebuild_index`, the kind the app picks for that size.

Then `uvicorn app.main:app` (one worker, PAGE_FRESH_SECONDS=0 so every listing request reads the
database) serves it, and each endpoint is requested one at a time over HTTP on loopback after a
warm-up pass over all its paths: the listing page `/arxiv/cs.LG` (1,000 papers of the day), hybrid search
`/api/v1/search?q=` (queries made of real title words), `/api/v1/papers/{id}/related?k=10` and
`/api/v1/papers/{id}` for random papers of the million. Printed: p50 / p99 per endpoint and the web
process's resident memory (VmRSS, and VmHWM, its peak) after the run.

Targets (issue "History and scale"): listing < 50 ms, search < 50 ms, related < 20 ms, paper < 10 ms.

PostgreSQL needs a cache sized for the data (~4 GB at 1M papers): with the 128 MB default a broad
keyword search reads thousands of pages from the OS for each query. The figures in the README were
measured with shared_buffers=3GB (docker-compose.yml sets PG_SHARED_BUFFERS, default 1GB).

Run (a PostgreSQL server; tests/services.sh starts a throwaway one):
    tests/services.sh .venv/bin/python benchmarks/scale.py
    .venv/bin/python benchmarks/scale.py --url postgresql+psycopg://postgres@127.0.0.1:54900/postgres
Options: --papers N, --requests N, --reload.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import backfill
import dayfeed
import harness
import httpx
import numpy as np
import pages
import search
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.arxiv.parse import parse_feed
from app.config import Settings
from app.search.index import rebuild_index
from app.store.backfill import SnapshotOptions, import_snapshot
from app.store.db import make_engine, session_scope
from app.store.ingest import ingest_feed
from app.store.migrate import upgrade_database

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "coolpapers_scale"
MODEL = str(Settings.model_fields["embed_model"].default)
CATEGORY = "cs.LG"
DAY_PAPERS = 1000
TARGETS_MS = {"listing": 50.0, "search": 50.0, "related": 20.0, "paper": 10.0}
QUERY_WORDS = 3


def scale_url(base: str) -> str:
    url = make_url(base)
    admin = make_engine(url.set(database="postgres").render_as_string(hide_password=False))
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            exists = connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": DATABASE})
            if not exists:
                connection.execute(text(f"CREATE DATABASE {DATABASE}"))
    finally:
        admin.dispose()
    return url.set(database=DATABASE).render_as_string(hide_password=False)


def server_setting(url: str, name: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return str(connection.scalar(text(f"SHOW {name}")))
    finally:
        engine.dispose()


def counts(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            papers = connection.scalar(text("SELECT count(*) FROM papers")) or 0
            vectors = connection.scalar(text("SELECT count(*) FROM embeddings")) or 0
    finally:
        engine.dispose()
    return int(papers), int(vectors)


def load(settings: Settings, papers: int) -> None:
    url = settings.sqlalchemy_url
    with tempfile.TemporaryDirectory(prefix="coolpapers-scale-") as folder:
        snapshot = Path(folder) / "snapshot.jsonl"
        started = time.perf_counter()
        size = backfill.generate_snapshot(snapshot, papers - DAY_PAPERS)
        print(
            f"snapshot: {papers - DAY_PAPERS:,} records, {size / 1e9:.2f} GB in {time.perf_counter() - started:.0f} s"
        )
        started = time.perf_counter()
        report = import_snapshot(settings, SnapshotOptions(path=snapshot, batch=5000, writers=None))
        seconds = time.perf_counter() - started
        print(
            f"import: {report.summary()} in {seconds:.0f} s ({report.counts.get('records', 0) / seconds:,.0f} records/s)"
        )
    started = time.perf_counter()
    with session_scope(settings) as session:
        day = ingest_feed(session, feed=parse_feed(dayfeed.build_day(DAY_PAPERS)), categories=dayfeed.LISTED)
    print(f"day: {day.summary()} in {time.perf_counter() - started:.1f} s")
    store_vectors(url)
    build_index(settings)


def store_vectors(url: str) -> None:
    """A clustered unit vector per paper, COPY'd in binary (what `coolpapers embed` would store)."""
    started = time.perf_counter()
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            ids = [row[0] for row in connection.execute(text("SELECT id FROM papers ORDER BY id"))]
        centres = search.random_centres(2000, np.random.default_rng(7))
        vectors = search.synthetic(len(ids), centres, search.Spread(), seed=11)
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()  # type: ignore[attr-defined]
            cursor.execute("DELETE FROM embeddings")
            copy_sql = "COPY embeddings (paper_id, model, dim, vector) FROM STDIN (FORMAT BINARY)"
            with cursor.copy(copy_sql) as copy:
                copy.set_types(["int4", "varchar", "int4", "bytea"])
                for paper_id, vector in zip(ids, vectors, strict=True):
                    copy.write_row((paper_id, MODEL, 384, vector.astype("<f4").tobytes()))
            raw.commit()
        finally:
            raw.close()
    finally:
        engine.dispose()
    print(f"vectors: {len(ids):,} stored in {time.perf_counter() - started:.0f} s")


def build_index(settings: Settings) -> None:
    started = time.perf_counter()
    with session_scope(settings) as session:
        meta = rebuild_index(session, settings, model=MODEL)
    assert meta is not None
    print(f"index: {meta.kind} over {meta.count:,} vectors built in {time.perf_counter() - started:.0f} s")


def memory(pid: int) -> str:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return f"VmRSS {int(fields['VmRSS'].split()[0]) / 1024:,.0f} MB, peak VmHWM {int(fields['VmHWM'].split()[0]) / 1024:,.0f} MB"


def endpoint_paths(url: str, count: int) -> dict[str, list[str]]:
    rng = random.Random(5)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            top = connection.scalar(text("SELECT max(id) FROM papers")) or 1
            picked = [rng.randint(1, top) for _ in range(count)]
            ids = [
                r[0]
                for r in connection.execute(
                    text("SELECT arxiv_id FROM papers WHERE id = ANY(:ids)"), {"ids": picked}
                )
            ]
            titles = [
                r[0]
                for r in connection.execute(
                    text("SELECT title FROM papers WHERE id = ANY(:ids)"), {"ids": picked[:count]}
                )
            ]
    finally:
        engine.dispose()
    words = [[w for w in t.split() if w.isalpha() and len(w) > 3] for t in titles]
    queries = [" ".join(rng.sample(ws, min(QUERY_WORDS, len(ws)))) for ws in words if ws]
    return {
        "listing": [f"/arxiv/{CATEGORY}"],
        "search": [f"/api/v1/search?q={quote(q)}&limit=20" for q in queries],
        "related": [f"/api/v1/papers/{i}/related?k=10" for i in ids],
        "paper": [f"/api/v1/papers/{i}" for i in ids],
    }


def measure(base: str, paths: dict[str, list[str]], requests: int) -> list[list[object]]:
    rows = []
    with httpx.Client(base_url=base, timeout=60) as client:
        for name, options in paths.items():
            for path in options:  # warm-up: one pass over every path (the first search loads the model)
                assert client.get(path).status_code == 200, path
            times = []
            for i in range(requests):
                path = options[i % len(options)]
                started = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (path, response.status_code, response.text[:200])
            p50, p99 = harness.median(times), harness.percentile(times, 99)
            target = TARGETS_MS[name]
            rows.append(
                [
                    name,
                    len(options),
                    f"{p50:.1f}",
                    f"{p99:.1f}",
                    f"< {target:g}",
                    "ok" if p99 < target else "MISSED",
                    harness.load_now(),
                ]
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url", default=os.environ.get("TEST_DATABASE_URL"), help="a PostgreSQL server's URL"
    )
    parser.add_argument("--papers", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=300, help="requests per endpoint")
    parser.add_argument("--reload", action="store_true", help="load the data again even if present")
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "coolpapers-scale")
    args = parser.parse_args()
    if not args.url:
        sys.exit("give a PostgreSQL URL (--url) or run under tests/services.sh")
    url = scale_url(args.url)
    settings = Settings(_env_file=None, database_url=url, data_dir=args.data_dir)  # type: ignore[call-arg]
    print("\n".join(harness.machine_lines([harness.Target("PostgreSQL", args.url)])))
    upgrade_database(settings)
    papers, vectors = counts(url)
    if args.reload or papers < args.papers:
        if papers:
            engine = make_engine(url)
            with engine.begin() as connection:
                connection.execute(text("TRUNCATE papers, listings, embeddings, backfill_states CASCADE"))
            engine.dispose()
        load(settings, args.papers)
    elif not (args.data_dir / "index" / "meta.json").exists() or vectors < papers:
        if vectors < papers:
            store_vectors(url)
        build_index(settings)
    papers, vectors = counts(url)
    print(f"database: {papers:,} papers, {vectors:,} vectors; index in {args.data_dir / 'index'}")
    print(
        f"postgresql: shared_buffers {server_setting(url, 'shared_buffers')} (docker-compose.yml: PG_SHARED_BUFFERS)"
    )
    paths = endpoint_paths(url, 200)
    with pages.uvicorn_server(url, args.data_dir, RATE_SEARCH_PER_MINUTE=str(10**9)) as (base, pid):
        rows = measure(base, paths, args.requests)
        used = memory(pid)
    print(f"\nuvicorn app.main:app (1 worker), {args.requests} requests per endpoint, one at a time\n")
    print(harness.table(["endpoint", "paths", "p50 ms", "p99 ms", "target p99", "verdict", "load"], rows))
    print(f"\nweb process after the run: {used}")


if __name__ == "__main__":
    main()
