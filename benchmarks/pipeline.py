"""Benchmark: a 2,500-entry arXiv day through the real worker path, from enqueue to all papers stored.

A loopback HTTP server plays rss.arxiv.org and serves the generated day (benchmarks/dayfeed.py) as
the cs.LG feed; a real `celery worker` process (prefork, one child, as in production) consumes from
a real Redis and writes to a fresh migrated database, SQLite and, when TEST_DATABASE_URL is set,
PostgreSQL. Each run enqueues `fetch.category` from this process and times, with time.monotonic
(the clock the loopback server records requests with):

  stored    enqueue -> the database holds every paper of the day (polled every 10 ms);
  task      enqueue -> the task's result is SUCCESS in the result backend;
  fetched   enqueue -> the feed request reached the server (queue + worker pick-up + rate limiter).

The worker is started (and answering a ping) before the clock starts: its start-up is not counted.
The `fetch.details` tasks that follow (API look-ups for the new papers) are not counted either.

Run (Redis and PostgreSQL on loopback, started and stopped by the script):
    tests/services.sh .venv/bin/python benchmarks/pipeline.py
    # beside a running test suite:
    SERVICES_DIR=/tmp/pipe-services TEST_PG_PORT=54500 TEST_REDIS_PORT=64000 \\
        tests/services.sh .venv/bin/python benchmarks/pipeline.py
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dayfeed
import harness
import redis
from celery import Celery
from sqlalchemy import Engine, func, select

from app.store.db import make_engine
from app.store.models import Paper

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.loopback: the same loopback arXiv as the tests

from tests.loopback import LoopbackServer, Reply  # noqa: E402

CATEGORY = "cs.LG"
EMPTY_API = (
    b"<?xml version='1.0' encoding='UTF-8'?>\n"
    b'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">'
    b"<id>https://arxiv.org/api/empty</id><title>arXiv Query</title>"
    b"<updated>2026-11-10T00:00:00Z</updated><opensearch:totalResults>0</opensearch:totalResults>"
    b"<opensearch:startIndex>0</opensearch:startIndex><opensearch:itemsPerPage>100</opensearch:itemsPerPage>"
    b"</feed>\n"
)


@dataclass
class Timings:
    stored: list[float] = field(default_factory=list)
    task: list[float] = field(default_factory=list)
    fetched: list[float] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)


def wait_for(probe: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.01) -> float:
    """Poll until `probe()`; returns time.monotonic() at the first true answer."""
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
    return time.monotonic()


def redis_url_for(base: str, number: int) -> str:
    return urlunsplit(urlsplit(base)._replace(path=f"/{number}"))


def client_app(redis_url: str) -> Celery:
    """The project's own Celery configuration, pointed at `redis_url`."""
    os.environ["REDIS_URL"] = redis_url
    from app.config import get_settings
    from workers.celery_app import celery_config

    get_settings.cache_clear()
    app = Celery("pipeline-bench", set_as_current=False)
    app.conf.update(celery_config())
    return app


@contextmanager
def worker(env: dict[str, str], log: Path, client: Celery) -> Iterator[None]:
    """A `celery worker` process, ready (answering a ping) on entry, killed on exit."""
    argv = [
        sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "--pool=prefork",
        "--concurrency=1", "-Q", "fetch,summarize,embed", "--without-gossip", "--without-mingle",
        "--without-heartbeat", "-n", "bench@pipeline", "--loglevel=WARNING",
    ]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                raise SystemExit(f"the worker exited with {proc.returncode}; see {log}")
            return bool(client.control.ping(destination=["bench@pipeline"], timeout=0.3))

        wait_for(ready, timeout=60, what="the worker", interval=0.05)
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def paper_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Paper)).scalar_one())


def one_run(
    url: str, *, feed: bytes, size: int, redis_url: str, client: Celery, folder: Path, timings: Timings
) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    script = {f"/rss/{CATEGORY}": Reply(200, feed), "/api/query": Reply(200, EMPTY_API)}
    with LoopbackServer(script) as server:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "DATA_DIR": str(folder / "data"),
            "ARXIV_RSS_URL": f"{server.url}/rss",
            "ARXIV_API_URL": f"{server.url}/api/query",
            "ARXIV_MIN_INTERVAL": "0",
            "LOG_LEVEL": "WARNING",
        }
        engine = make_engine(url)
        try:
            with worker(env, folder / "worker.log", client):
                started = time.monotonic()
                result = client.send_task("fetch.category", args=[CATEGORY])
                stored = wait_for(lambda: paper_count(engine) >= size, timeout=300, what="all papers")
                done = wait_for(lambda: result.state in ("SUCCESS", "FAILURE"), timeout=60, what="the task")
                if result.state != "SUCCESS":
                    raise SystemExit(f"fetch.category failed: {result.result}")
                if paper_count(engine) != size:
                    raise SystemExit(f"{paper_count(engine)} papers stored, expected {size}")
                [request] = server.requests_for(f"/rss/{CATEGORY}")
                timings.fetched.append(request.time - started)  # the server records time.monotonic()
                timings.stored.append(stored - started)
                timings.task.append(done - started)
                timings.summaries.append(str(result.result["summary"]))
        finally:
            engine.dispose()


def result_table(timings: Timings) -> str:
    def row(name: str, values: list[float]) -> list[object]:
        return [name, *(f"{v:.3f} s" for v in (harness.median(values), min(values), max(values)))]

    rows = [
        row("enqueue -> feed request at arXiv", timings.fetched),
        row("enqueue -> all papers stored", timings.stored),
        row("enqueue -> task SUCCESS", timings.task),
    ]
    return harness.table(["step", "median", "best", "worst"], rows)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=2500, help="entries in the day (default 2500)")
    parser.add_argument("--runs", type=int, default=3, help="runs per database (default 3)")
    parser.add_argument("--redis-url", help="Redis server URL (default: $TEST_REDIS_URL)")
    parser.add_argument("--redis-db", type=int, default=14, help="Redis database number used and flushed")
    parser.add_argument("--postgres-url", help="PostgreSQL server URL (default: $TEST_DATABASE_URL)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    base = args.redis_url or os.environ.get("TEST_REDIS_URL")
    if not base:
        raise SystemExit("needs Redis: run under tests/services.sh, or give --redis-url")
    redis_url = redis_url_for(base, args.redis_db)
    databases = harness.targets(args.postgres_url, require_postgres=False)
    feed = dayfeed.build_day(args.size, categories=(CATEGORY,))
    client = client_app(redis_url)
    print("\n".join(harness.machine_lines(databases)))
    print(f"redis: {redis.Redis.from_url(redis_url).info('server')['redis_version']}")
    print(
        f"feed: {args.size:,} entries of {CATEGORY}, {len(feed) / 1e6:.1f} MB RSS 2.0; "
        f"worker: prefork, 1 process; {args.runs} runs per database, each on a fresh database"
    )
    try:
        for target in databases:
            timings = Timings()
            for _ in range(args.runs):
                with harness.fresh_database(target) as url, tempfile.TemporaryDirectory() as folder:
                    one_run(
                        url,
                        feed=feed,
                        size=args.size,
                        redis_url=redis_url,
                        client=client,
                        folder=Path(folder),
                        timings=timings,
                    )
            print(f"\n{target.name} ({harness.load_average()} after)")
            print(result_table(timings))
            print(f"task result: {timings.summaries[-1]}")
    finally:
        client.close()


if __name__ == "__main__":
    main()
