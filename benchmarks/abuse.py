"""Benchmark: a hostile client against `uvicorn app.main:app --workers 2` on PostgreSQL (issue 13).

A fresh migrated PostgreSQL database gets a generated 5,000-paper cs.LG day (benchmarks/dayfeed.py).
Two web processes serve it; the LLM is an OpenAI-shaped loopback model that writes slowly
(tests/llm_server.py, one word every CHUNK_DELAY seconds). Then, one phase after the other:

1. streams: 50 FAQ streams at once (`POST /arxiv/kimi`, as the FAQ button sends it, each from its
   own forwarded address) on 5 papers whose summaries are being written, held to their end;
2. listings: 30 requests at once of the 5,000-paper day (`/arxiv/cs.LG`, capped at MAX_SHOW papers
   a page), three rounds: the page, its next page and the `sort=popular` order (kept while no
   counter of the day moves: the streams' FAQ counts are in its stamp before the round starts);
3. API pages: 30 requests at once of the day from the JSON API, each its own page of 1,000 papers
   (`/api/v1/listings/cs.LG?limit=1000&skip=...`: no kept answer serves two of them);
4. "for you": 30 `POST /api/v1/rank` at once, each the whole day with 10 stars and 10 dismissals of its
   own (what the listing's "for you" sends);
   then the same with each request its own set (4,000 of the day's papers, another slice each): no
   prepared day serves two of them;
5. paper sets: 30 pages of 200 stored papers at once (`/arxiv/id1,...,id200`, each another set);
6. searches: 30 at once, the site's and the API's in turn, each another query from its own forwarded
   address (a client of many addresses: no per-client limit holds it). The day's papers have random
   unit vectors (benchmarks/loaddata.py) in a FAISS index built before the server starts, so every
   search embeds its query on the web process's model (hybrid: full text and vectors; the model is
   loaded by the first search, as EMBED_PRELOAD=false leaves it) and asks the index;
7. unions: 1,000 category-union requests, 20 at once: made-up categories, real ones without
   papers, 100-term unions, 1,000-term ones.

Throughout, /healthz is asked every 20 ms on its own connection, from a process of its own. Printed: each web process's peak
RSS (VmHWM; target < 600 MB), the /healthz p99 (target < 50 ms), the answers by status per phase
(target: no 5xx), and whether the fetch schedule (`categories_to_fetch`) changed (target: no).

Run (about a minute):
    SERVICES_DIR=/tmp/svc-abuse TEST_PG_PORT=55442 TEST_REDIS_PORT=56392 \\
        tests/services.sh .venv/bin/python benchmarks/abuse.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import dayfeed  # noqa: E402
import harness  # noqa: E402
import loaddata  # noqa: E402
from pages import uvicorn_server  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from app.arxiv.parse import parse_feed  # noqa: E402
from app.arxiv.taxonomy import taxonomy  # noqa: E402
from app.config import Settings  # noqa: E402
from app.search.embed import get_embedder  # noqa: E402
from app.search.index import rebuild_index  # noqa: E402
from app.store.categories import categories_to_fetch  # noqa: E402
from app.store.db import make_engine  # noqa: E402
from app.store.ingest import ingest_feed  # noqa: E402
from app.store.models import Paper  # noqa: E402
from tests.llm_server import FakeLLMServer  # noqa: E402

CATEGORY = "cs.LG"
SIZE = 5000
STREAMS, STREAM_PAPERS = 50, 5
LISTINGS, LISTING_ROUNDS = 30, 3
UNIONS, UNION_CONCURRENCY = 1000, 20
CHUNK_DELAY = 0.05  # seconds per word of the slow model: an FAQ of ~150 words takes ~8 s
SITE = {"Sec-Fetch-Site": "same-origin"}
TARGET_RSS_MB, TARGET_HEALTHZ_MS = 600, 50.0
# Each request opens its own connection, as many clients would; but a new httpx.Client builds an SSL
# context (certifi loaded: ~15 ms of CPU) even for http://. Built once, or on 2 cores this client
# took ~0.75 of a core from the server it measures during the unions.
TLS = ssl.create_default_context()


def load_day(url: str) -> list[str]:
    """Store a generated SIZE-paper day of CATEGORY with a random vector per paper: its ids."""
    engine = make_engine(url)
    try:
        with Session(engine) as session, session.begin():
            ingest_feed(session, feed=parse_feed(dayfeed.build_day(SIZE, categories=(CATEGORY,))))
            papers = session.execute(select(Paper.id, Paper.arxiv_id).order_by(Paper.id)).all()
            loaddata.add_random_vectors(session, [pid for pid, _ in papers])
            return [arxiv_id for _, arxiv_id in papers]
    finally:
        engine.dispose()


def build_index(url: str, data_dir: Path) -> str:
    """The day's FAISS index in `data_dir`, and the model's ONNX graph exported there (a deployment's
    `coolpapers embed` leaves both behind; the web processes only load them): what was built."""
    settings = Settings(_env_file=None, database_url=url, data_dir=data_dir)  # type: ignore[call-arg]
    embedder = get_embedder(settings)
    embedder.embed(["warm up"])
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            meta = rebuild_index(session, settings, model=embedder.name)
    finally:
        engine.dispose()
    return f"{meta.count} vectors ({meta.kind})" if meta else "no index"


def schedule(url: str) -> list[str]:
    """What `coolpapers schedule` would fetch: the configured categories and any opened lately."""
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            since = dt.date.today() - dt.timedelta(days=30)
            return categories_to_fetch(session, configured=Settings().arxiv_categories, since=since)
    finally:
        engine.dispose()


@contextmanager
def web(url: str, data_dir: Path, llm: FakeLLMServer) -> Iterator[tuple[str, int]]:
    """`uvicorn app.main:app --workers 2` on a free loopback port: (base URL, the master's pid)."""
    with uvicorn_server(
        url,
        data_dir,
        options=["--workers", "2", "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"],
        drop=["REDIS_URL"],  # the embedded default: summaries written by each process's pool
        EMBED_PRELOAD="false",
        LLM_BASE_URL=llm.base_url,
        LLM_MODEL="fake-llm",
        LLM_RETRIES="0",
        SUMMARY_FULL_TEXT="false",
        TRUSTED_PROXIES="127.0.0.1",  # each stream comes "from" its own reader
        RATE_SUMMARY_PER_MINUTE="100000",
        RATE_STAR_PER_MINUTE="100000",
        SUMMARY_PER_IP_LIMIT="100000",
        LOG_LEVEL="WARNING",
    ) as (base, master):
        deadline = time.monotonic() + 60  # /healthz answers once the first of the two is up
        while len(workers(master)) < 2:
            if time.monotonic() > deadline:
                raise SystemExit("uvicorn did not start its two workers within 60 s")
            time.sleep(0.2)
        yield base, master


def workers(master: int) -> list[int]:
    """The web processes uvicorn started (multiprocessing's spawn_main), not its resource tracker."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    found = []
    for pid in children:
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except FileNotFoundError:
            continue
    return found


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")


# The probe runs in a process of its own: a thread of this one would wait for this process's GIL,
# held by the load's own clients (30 threads reading 6.5 MB pages), and count that wait as the server's.
PROBE = """
import json, sys, threading, time
import httpx
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
samples = []
with httpx.Client(base_url=sys.argv[1], timeout=10) as client:
    while not stop.is_set():
        started = time.monotonic()
        try:
            ok = client.get("/healthz").status_code == 200
        except httpx.HTTPError:
            ok = False
        samples.append((started, (time.monotonic() - started) * 1000, ok))
        stop.wait(0.02)
json.dump(samples, sys.stdout)
"""


class HealthProbe:
    """Asks /healthz every 20 ms on its own connection, from its own process, while the phases run.

    `samples` (start on this machine's monotonic clock, milliseconds, answered 200) are read when it
    stops; `window` picks a phase's.
    """

    def __init__(self, base: str) -> None:
        self.base = base
        self.samples: list[tuple[float, float, bool]] = []

    def __enter__(self) -> HealthProbe:
        command = [sys.executable, "-c", PROBE, self.base]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        return self

    def __exit__(self, *_: object) -> None:
        out, _err = self._process.communicate("", timeout=60)
        self.samples = [(float(t), float(ms), bool(ok)) for t, ms, ok in json.loads(out)]

    @property
    def times(self) -> list[float]:
        return [ms for _, ms, _ in self.samples]

    @property
    def failures(self) -> int:
        return sum(not ok for _, _, ok in self.samples)

    def window(self, started: float, ended: float) -> list[float]:
        return [ms for t, ms, _ in self.samples if started <= t < ended] or [0.0]


def run_all(count: int, concurrency: int, call: Callable[[int], int]) -> Counter[int]:
    with ThreadPoolExecutor(concurrency) as pool:
        return Counter(pool.map(call, range(count)))


def streams(base: str, papers: list[str]) -> Counter[int]:
    def stream(n: int) -> int:
        headers = SITE | {"X-Forwarded-For": f"198.51.100.{n + 1}"}
        paper = papers[n % STREAM_PAPERS]
        with httpx.Client(base_url=base, timeout=120, verify=TLS) as client:
            response = client.post("/arxiv/kimi", params={"paper": paper}, headers=headers)
            return response.status_code

    return run_all(STREAMS, STREAMS, stream)


def listings(base: str, query: str) -> Counter[int]:
    def listing(_: int) -> int:
        with httpx.Client(base_url=base, timeout=120, verify=TLS) as client:
            return client.get(f"/arxiv/{CATEGORY}{query}", headers={"Accept-Encoding": "gzip"}).status_code

    return run_all(LISTINGS, LISTINGS, listing)


def api_pages(base: str) -> Counter[int]:
    def page(n: int) -> int:
        with httpx.Client(base_url=base, timeout=120, verify=TLS) as client:
            params = {"limit": 1000, "skip": n * (SIZE - 1000) // LISTINGS}
            return client.get(f"/api/v1/listings/{CATEGORY}", params=params).status_code

    return run_all(LISTINGS, LISTINGS, page)


def rankings(base: str, papers: list[str], *, each: int | None = None) -> Counter[int]:
    """30 `POST /api/v1/rank` at once, 10 stars and 10 dismissals each: every one over the whole day,
    or with `each`, over its own slice of that many papers (no prepared day serves two of them)."""

    def rank(n: int) -> int:
        if each is None:
            shown, mine = papers, papers[n * 20 : n * 20 + 20]
        else:
            start = n * (len(papers) - each) // LISTINGS
            shown = mine = papers[start : start + each]
        body = {"papers": shown, "stars": mine[:10], "dismissed": mine[10:20]}
        with httpx.Client(base_url=base, timeout=120, verify=TLS) as client:
            return client.post("/api/v1/rank", json=body).status_code

    return run_all(LISTINGS, LISTINGS, rank)


def paper_sets(base: str, papers: list[str]) -> Counter[int]:
    def paper_set(n: int) -> int:
        with httpx.Client(base_url=base, timeout=120, verify=TLS) as client:
            return client.get(f"/arxiv/{','.join(papers[n * 100 : n * 100 + 200])}").status_code

    return run_all(LISTINGS, LISTINGS, paper_set)


SEARCH_WORDS = ("learning", "graph", "diffusion", "robust", "language", "optimal", "neural", "sparse")


def searches(base: str) -> Counter[int]:
    def search(n: int) -> int:
        # each query its own (the number too): no remembered query vector answers a second one
        words = " ".join([*(SEARCH_WORDS[(n + k) % len(SEARCH_WORDS)] for k in range(1 + n % 3)), str(n)])
        path, key = ("/api/v1/search", "q") if n % 2 else ("/arxiv/search", "query")
        headers = {"X-Forwarded-For": f"203.0.113.{n + 1}"}
        with httpx.Client(base_url=base, timeout=120, verify=TLS) as client:
            return client.get(path, params={key: words}, headers=headers).status_code

    return run_all(LISTINGS, LISTINGS, search)


def unions(base: str) -> Counter[int]:
    real = [code for code in taxonomy().categories if code != CATEGORY]
    specs = [
        lambda n: ",".join([CATEGORY, *(f"cs.X{n}{k}" for k in range(900))]),  # made up: 422
        lambda n: ",".join([CATEGORY, *real[(n % 10) * 5 : (n % 10) * 5 + 40]]),  # real, no papers here
        lambda n: "+".join([CATEGORY, *real[:99]]),  # the most terms allowed
        lambda n: ",".join([CATEGORY] * 1001),  # past the cap: 422
    ]

    def union(n: int) -> int:
        with httpx.Client(base_url=base, timeout=60, verify=TLS) as client:
            return client.get(f"/arxiv/{specs[n % len(specs)](n)}", params={"show": 25}).status_code

    return run_all(UNIONS, UNION_CONCURRENCY, union)


Phase = tuple[str, Counter[int], float, float, str]  # name, answers, started, ended, peak RSS so far


def phase(name: str, pids: list[int], run: Callable[[], Counter[int]]) -> Phase:
    """Run one phase: its answers by status, when it ran (for the /healthz probes meanwhile), peak RSS after it."""
    started = time.monotonic()
    statuses = run()
    peaks = " / ".join(f"{peak_rss_mb(pid):.0f}" for pid in pids)
    return name, statuses, started, time.monotonic(), peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres-url", help="a PostgreSQL server (default: TEST_DATABASE_URL)")
    args = parser.parse_args()
    target = harness.targets(args.postgres_url, require_postgres=True)[-1]
    print("\n".join(harness.machine_lines([target])))
    with harness.fresh_database(target) as url, FakeLLMServer(chunk_delay=CHUNK_DELAY) as llm:
        started = time.monotonic()
        ids = load_day(url)
        print(f"loaded a {len(ids)}-paper {CATEGORY} day in {time.monotonic() - started:.1f} s")
        before = schedule(url)
        with harness_data_dir() as data_dir:
            started = time.monotonic()
            print(f"built the index: {build_index(url, data_dir)} in {time.monotonic() - started:.1f} s")
            with web(url, data_dir, llm) as (base, master), HealthProbe(base) as probe:
                pids = workers(master)
                idle = {pid: peak_rss_mb(pid) for pid in pids}
                results = run_phases(base, pids, ids)
                peaks = {pid: peak_rss_mb(pid) for pid in pids}
        after = schedule(url)
    report(results, idle, peaks, probe, before, after, llm.generations)


def run_phases(base: str, pids: list[int], ids: list[str]) -> list[Phase]:
    results = [phase("streams (50 FAQ streams)", pids, lambda: streams(base, ids[:STREAM_PAPERS]))]
    for query in ["", "?skip=2000", "?sort=popular"][:LISTING_ROUNDS]:
        label = f"listings (30 at once{', ' + query if query else ''})"
        results.append(phase(label, pids, functools.partial(listings, base, query)))
    results.append(phase("API pages (30 at once, 1,000 papers each)", pids, lambda: api_pages(base)))
    results.append(phase('"for you" (30 at once, 5,000 papers)', pids, lambda: rankings(base, ids)))
    results.append(phase('"for you" (30 sets of 4,000 papers)', pids, lambda: rankings(base, ids, each=4000)))
    results.append(phase("paper sets (30 at once, 200 papers each)", pids, lambda: paper_sets(base, ids)))
    results.append(phase("searches (30 at once, 30 addresses, hybrid)", pids, lambda: searches(base)))
    results.append(phase("unions (1,000, 20 at once)", pids, lambda: unions(base)))
    return results


@contextmanager
def harness_data_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="coolpapers-abuse-") as folder:
        yield Path(folder)


def report(
    results: list[Phase],
    idle: dict[int, float],
    peaks: dict[int, float],
    probe: HealthProbe,
    before: list[str],
    after: list[str],
    generations: int,
) -> None:
    rows = []
    for name, statuses, started, ended, so_far in results:
        seconds, p99 = ended - started, harness.percentile(probe.window(started, ended), 99)
        answers = ", ".join(f"{count}× {status}" for status, count in sorted(statuses.items()))
        fives = sum(count for status, count in statuses.items() if status >= 500)
        rows.append([name, answers, fives, f"{seconds:.1f}", f"{p99:.1f}", so_far])
    headers = ["phase", "answers", "5xx", "s", "/healthz p99 ms", "peak RSS MB so far"]
    print(harness.table(headers, rows))
    for pid in peaks:
        verdict = "ok" if peaks[pid] < TARGET_RSS_MB else f"MISSED (target < {TARGET_RSS_MB} MB)"
        print(f"web process {pid}: RSS {idle[pid]:.0f} MB after start, peak {peaks[pid]:.0f} MB: {verdict}")
    p99 = harness.percentile(probe.times, 99)
    verdict = (
        "ok"
        if p99 < TARGET_HEALTHZ_MS and not probe.failures
        else f"MISSED (target < {TARGET_HEALTHZ_MS:.0f} ms)"
    )
    print(
        f"/healthz: {len(probe.times)} probes, p50 {harness.median(probe.times):.1f} ms, p99 {p99:.1f} ms, "
        f"max {max(probe.times):.0f} ms, {probe.failures} failed: {verdict}"
    )
    fives = sum(
        count for _, statuses, _, _, _ in results for status, count in statuses.items() if status >= 500
    )
    print(f"5xx answers: {fives}: {'ok' if fives == 0 else 'MISSED (target 0)'}")
    changed = "unchanged" if before == after else f"CHANGED: {before} -> {after}"
    print(f"fetch schedule: {changed} ({len(after)} categories); answers written by the model: {generations}")
    print(harness.uptime())


if __name__ == "__main__":
    main()
