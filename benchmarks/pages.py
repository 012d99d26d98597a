"""Benchmark: a 1,000-paper listing page served and shown, and ranking that day "for you".

A fresh migrated database gets a generated 1,000-paper cs.LG day (benchmarks/dayfeed.py) and a random
normalised 384-d vector per paper, stored with `add_embeddings` under the configured embedding model
(what `coolpapers embed` would store; random vectors cost the ranking exactly what real ones do).

1. Server: `/arxiv/cs.LG`, its JSON twin `/api/v1/listings/cs.LG?limit=1000`, the page's counts
   (`POST /api/v1/counters` with the day's 1,000 ids, as site.js sends them) and `POST /api/v1/rank`
   (the day's ids, 50 stars among them, two keywords, as the page's "for you" sends them) are
   requested 20 times to warm up and 300 times measured, in-process through
   `fastapi.testclient.TestClient` (the app's own code path) and over real HTTP against
   `uvicorn app.main:app` on a loopback port (`--no-http` skips it), each asking for gzip as browsers
   do. Every listing request reads the day's stamp; the page comes from the one page cache (rendered
   and gzipped once per URL and stamp). Two more listing rows: "rendered" (the cache emptied before
   each request: render and compress, 30 requests) and "304" (If-None-Match with the ETag: no body).
   The first request's transfer size (gzip on the wire) is printed. Targets: listing page p99 < 30 ms;
   rank p99 < 20 ms; the 304 without a body.
2. Browser: Debian's Chromium (/usr/bin/chromium) driven by Playwright loads the listing from that
   uvicorn 10 times with the HTTP cache disabled ("cold") and 10 times with it on ("warm"); the
   Performance API gives first paint / first contentful paint (`paint` entries) and the navigation
   entry's DOMContentLoaded end (the deferred scripts have run: stars, keyword bar and handlers in
   place, the math of the papers in view rendered: interactive) and load event end. Target: medians
   < 500 ms.

When the listing misses its target (or with `--profile`) the page is broken down (SQL, ORM objects,
Jinja) and profiled. The machine is small and shared: each row carries the 1-minute load at its end,
and each table the `uptime` line.

Run:
    make bench                                                        # SQLite (and ingest.py)
    .venv/bin/python benchmarks/pages.py                              # SQLite only
    .venv/bin/python benchmarks/pages.py --size 500 --no-browser      # the earlier, server-only run
    tests/services.sh .venv/bin/python benchmarks/pages.py --postgres   # SQLite and PostgreSQL
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dayfeed
import harness
import httpx
import numpy as np
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.arxiv.parse import parse_feed
from app.config import Settings, get_settings
from app.store.db import get_sessionmaker, make_engine
from app.store.embeddings import add_embeddings
from app.store.ingest import ingest_feed
from app.store.models import Paper

CATEGORY = "cs.LG"
PAGE = f"/arxiv/{CATEGORY}"
PAGE_RENDERED = f"{PAGE} (rendered)"
PAGE_304 = f"{PAGE} (If-None-Match: 304)"
RANK = "/api/v1/rank"
RANK_LABEL = f"POST {RANK}"
COUNTERS = "/api/v1/counters"
COUNTERS_LABEL = f"POST {COUNTERS}"
RENDERED_RUNS = 30
TARGET_P99_MS = {PAGE: 30.0, PAGE_304: 30.0, RANK_LABEL: 20.0}
TARGET_BROWSER_MS = 500.0
DIM = 384
KEYWORDS = ["diffusion", "graph"]
ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# Read once the load event is over: the navigation entry and the paint entries, in ms from navigation.
TIMINGS_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const paint = {};
  performance.getEntriesByType('paint').forEach(e => { paint[e.name] = e.startTime; });
  return {
    response_start: nav.responseStart, response_end: nav.responseEnd, dom_interactive: nav.domInteractive,
    dcl_end: nav.domContentLoadedEventEnd, load_end: nav.loadEventEnd,
    first_paint: paint['first-paint'] ?? null, fcp: paint['first-contentful-paint'] ?? null,
    bytes: nav.encodedBodySize, papers: document.querySelectorAll('div.paper').length,
    math: document.querySelectorAll('.katex').length,
  };
}"""
BROWSER_METRICS = (  # key, row name, judged against TARGET_BROWSER_MS
    ("response_start", "first byte (responseStart)", False),
    ("response_end", "HTML received (responseEnd)", False),
    ("first_paint", "first paint", True),
    ("fcp", "first contentful paint", True),
    ("dom_interactive", "HTML parsed (domInteractive)", False),
    ("dcl_end", "interactive (DOMContentLoaded end)", True),
    ("load_end", "load event end", False),
)


@dataclass(frozen=True, slots=True)
class Sample:
    """Milliseconds per request of one path, one way of serving it."""

    path: str
    mode: str  # "in-process" | "HTTP"
    times_ms: list[float]
    size: int  # bytes of the response body
    load: str  # 1-minute load average when the series ended
    gc: list[tuple[int, float]] | None = None  # (generation, ms) of each collection, in-process only
    server_ms: list[float] | None = None  # the app's own time to the response (its Server-Timing)


@dataclass(frozen=True, slots=True)
class Day:
    """The benchmark's day: its papers' arXiv ids (listing order) and the reader's stars."""

    ids: list[str]
    stars: list[str]

    def rank_body(self) -> dict[str, Any]:
        return {"papers": self.ids, "stars": self.stars, "keywords": KEYWORDS}

    def counters_body(self) -> dict[str, Any]:
        return {"papers": self.ids}


def embed_model() -> str:
    """The embedding model the app ranks with by default (EMBED_MODEL's default)."""
    return str(Settings.model_fields["embed_model"].default)


def load_day(url: str, size: int, stars: int) -> tuple[str, Day]:
    """Store a generated `size`-paper day of CATEGORY with a random unit vector per paper."""
    data = dayfeed.build_day(size, categories=(CATEGORY,))
    engine = make_engine(url)
    rng = np.random.default_rng(2611)
    try:
        with Session(engine) as session, session.begin():
            report = ingest_feed(session, feed=parse_feed(data), categories=[CATEGORY])
            papers = session.execute(select(Paper.id, Paper.arxiv_id).order_by(Paper.id)).all()
            vectors = rng.standard_normal((len(papers), DIM)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            add_embeddings(
                session, model=embed_model(), rows=[(p.id, v) for p, v in zip(papers, vectors, strict=True)]
            )
    finally:
        engine.dispose()
    assert report.listings == size, report.summary()
    ids = [arxiv_id for _, arxiv_id in papers]
    starred = [str(s) for s in rng.choice(ids, size=min(stars, len(ids)), replace=False)]
    return f"{report.summary()}; {len(papers)} vectors ({DIM}-d, {embed_model()})", Day(ids, starred)


def point_app_at(url: str, data_dir: Path) -> FastAPI:
    """A fresh app whose settings (and so its sessions) use the database at `url`."""
    os.environ["DATABASE_URL"] = url
    os.environ["DATA_DIR"] = str(data_dir)
    get_settings.cache_clear()
    from app.main import create_app

    return create_app()


def api_path(size: int) -> str:
    return f"/api/v1/listings/{CATEGORY}?limit={min(size, 1000)}"


def check_response(label: str, response: httpx.Response, papers: int) -> None:
    """Refuse to time a page that is wrong: every paper of the day must be on it."""
    if label == PAGE_304:
        assert response.status_code == 304 and response.content == b"", f"{label}: {response.status_code}"
        return
    assert response.status_code == 200, f"{label}: HTTP {response.status_code} {response.text[:300]}"
    if label in (PAGE, PAGE_RENDERED):
        found = response.text.count('<div class="paper"')
    else:  # the listing API pages by at most 1,000; the ranking orders all it is sent
        found = len(json.loads(response.content)["items"])
    expected = min(papers, 1000) if label.startswith("/api/v1/listings") else papers
    assert found == expected, f"{label}: {found} papers, expected {expected}"


def time_request(
    send: Callable[[], httpx.Response], label: str, *, mode: str, papers: int, warmup: int, runs: int
) -> Sample:
    for _ in range(max(1, warmup)):
        response = send()
    check_response(label, response, papers)
    times, server = [], []
    with harness.gc_pauses() as pauses:
        for _ in range(runs):
            started = time.perf_counter()
            response = send()
            times.append((time.perf_counter() - started) * 1000)
            server.append(float(response.headers["server-timing"].partition(";dur=")[2]))
    gc = pauses if mode == "in-process" else None
    return Sample(label, mode, times, len(response.content), harness.load_now(), gc, server)


def time_all(
    client: httpx.Client | TestClient, day: Day, *, mode: str, args: argparse.Namespace
) -> list[Sample]:
    """The listing page (from the page cache, rendered, answered 304), its JSON twin, its counts and
    the ranking, one after the other."""
    options = {"mode": mode, "papers": args.size, "warmup": args.warmup, "runs": args.runs}
    gz = {"Accept-Encoding": "gzip"}
    page = time_request(lambda: client.get(PAGE, headers=gz), PAGE, **options)
    rendered = []
    if mode == "in-process":  # the page cache lives in this process: emptied before each request
        from app.httpcache import kept_responses

        def render() -> httpx.Response:
            kept_responses().clear()
            return client.get(PAGE, headers=gz)

        few = options | {"warmup": 2, "runs": RENDERED_RUNS}
        rendered = [time_request(render, PAGE_RENDERED, **few)]
    etag = client.get(PAGE, headers=gz).headers["etag"]
    unchanged = time_request(
        lambda: client.get(PAGE, headers=gz | {"If-None-Match": etag}), PAGE_304, **options
    )
    api = time_request(lambda: client.get(api_path(args.size), headers=gz), api_path(args.size), **options)
    counts = time_request(lambda: client.post(COUNTERS, json=day.counters_body()), COUNTERS_LABEL, **options)
    rank = time_request(lambda: client.post(RANK, json=day.rank_body()), RANK_LABEL, **options)
    return [page, *rendered, unchanged, api, counts, rank]


def first_transfer(base: str) -> str:
    """What a browser's first request for the listing moves: bytes on the wire and decoded."""
    with (
        httpx.Client(base_url=base, timeout=30) as http,
        http.stream("GET", PAGE, headers={"Accept-Encoding": "gzip"}) as response,
    ):
        wire = b"".join(response.iter_raw())
        encoding = response.headers.get("content-encoding", "identity")
    html = gzip.decompress(wire) if encoding == "gzip" else wire
    return (
        f"first request of {PAGE}: {len(wire) / 1024:.0f} KiB on the wire ({encoding}), "
        f"{len(html) / 1024:.0f} KiB of HTML ({len(html) / len(wire):.1f}x)"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def uvicorn_server(
    url: str, data_dir: Path, *, options: Sequence[str] = (), drop: Sequence[str] = (), **settings: str
) -> Iterator[tuple[str, int]]:
    """`uvicorn app.main:app` on a free loopback port, serving the database at `url`: (base URL, pid).

    Pages go out with `Cache-Control: no-cache` (PAGE_FRESH_SECONDS=0: clients revalidate each time)
    unless `settings` (more environment variables) say otherwise; `drop` names variables to unset,
    `options` are more uvicorn arguments (`--workers 2`).
    """
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DATA_DIR": str(data_dir),
        "PAGE_FRESH_SECONDS": "0",
        **settings,
    }
    for name in drop:
        env.pop(name, None)
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log", *options]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process)
        wait_for_model(lambda path: httpx.get(base + path, timeout=5))
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_for_model(get: Callable[[str], httpx.Response], *, seconds: float = 120) -> None:
    """Measure a server at work, not one loading its model in the background (EMBED_PRELOAD: that
    start-up costs a second or two of CPU, and requests meanwhile wait behind it)."""
    deadline = time.monotonic() + seconds
    while get("/readyz").json().get("model") == "loading":
        if time.monotonic() > deadline:
            raise SystemExit(f"the model was still loading after {seconds:.0f} s")
        time.sleep(0.2)


def _wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"uvicorn exited with status {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("uvicorn did not answer /healthz within 30 s")


@dataclass(frozen=True, slots=True)
class PageLoads:
    """The Performance API's figures of several loads of one page in Chromium."""

    cache: str  # "cold" (HTTP cache disabled: HTML, CSS, scripts, fonts fetched) | "warm" (cache on)
    loads: list[dict[str, Any]]
    load: str  # 1-minute load average when the series ended


def browser_available() -> str | None:
    """None when Chromium and Playwright are here, else why the browser figures are skipped."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None


def browser_loads(base: str, papers: int, loads: int) -> list[PageLoads]:
    """`loads` loads with the HTTP cache off, then `loads` with it on (after one unmeasured load each).

    One page navigates to the listing again and again: the renderer process is reused, so the figures
    are the page's own, not the start of a process (hundreds of ms on a loaded machine).
    """
    from playwright.sync_api import sync_playwright

    def measure(page: Any) -> dict[str, Any]:
        page.goto(base + PAGE, wait_until="load", timeout=60_000)
        page.wait_for_function("() => performance.getEntriesByType('navigation')[0].loadEventEnd > 0")
        timings: dict[str, Any] = page.evaluate(TIMINGS_JS)
        assert timings["papers"] == papers, f"{timings['papers']} papers on the page, expected {papers}"
        return timings

    series = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            devtools = context.new_cdp_session(page)
            for cache, disabled in (("cold", True), ("warm", False)):
                devtools.send("Network.setCacheDisabled", {"cacheDisabled": disabled})
                measure(page)
                series.append(PageLoads(cache, [measure(page) for _ in range(loads)], harness.load_now()))
            context.close()
        finally:
            browser.close()
    return series


@dataclass
class Measured:
    """Everything one database gave, with `uptime` as each part ended."""

    app: FastAPI
    samples: list[Sample]
    server_uptime: str
    loads: list[PageLoads]
    browser_uptime: str = ""


def measure(url: str, data_dir: Path, day: Day, args: argparse.Namespace) -> Measured:
    """Server figures in-process, then (unless --no-http) over HTTP, then (unless --no-browser) Chromium's."""
    app = point_app_at(url, data_dir)
    with TestClient(app) as client:
        wait_for_model(client.get)
        samples = time_all(client, day, mode="in-process", args=args)
    if args.no_http and args.no_browser:
        return Measured(app, samples, harness.uptime(), [])
    with uvicorn_server(url, data_dir) as (base, _):
        print(first_transfer(base))
        if not args.no_http:
            with httpx.Client(base_url=base, timeout=30) as http:
                samples += time_all(http, day, mode="HTTP", args=args)
        result = Measured(app, samples, harness.uptime(), [])
        skipped = None if args.no_browser else browser_available()
        if skipped:
            print(f"browser figures skipped: {skipped}")
        elif not args.no_browser:
            result.loads = browser_loads(base, args.size, args.loads)
            result.browser_uptime = harness.uptime()
    return result


def result_table(samples: list[Sample]) -> str:
    rows = []
    for sample in samples:
        rows += _rows(sample)
    headers = [
        "path",
        "served",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "size",
        "full GCs",
        "load",
        "target",
        "",
    ]
    return harness.table(headers, rows)


def _rows(s: Sample) -> list[list[object]]:
    """The client's round trip and, below it, the server's own time (Server-Timing) of a series."""
    rows = []
    for mode, times in ((s.mode, s.times_ms), (f"{s.mode}, server", s.server_ms or [])):
        if not times:
            continue
        figures = [harness.percentile(times, q) for q in (50, 90, 99)] + [max(times)]
        target = TARGET_P99_MS.get(s.path)
        verdict = ("ok" if figures[2] < target else "MISSED") if target else ""
        pauses = _full_collections(s.gc) if s.gc is not None else "-"
        size, goal = f"{s.size / 1024:.0f} KiB", f"p99 < {target:g}" if target else ""
        rows.append([s.path, mode, *(f"{v:.1f}" for v in figures), size, pauses, s.load, goal, verdict])
    return rows


def browser_table(series: list[PageLoads]) -> str:
    rows = []
    for run in series:
        for key, name, judged in BROWSER_METRICS:
            values = [float(t[key]) for t in run.loads if t.get(key) is not None]
            if not values:
                rows.append([name, run.cache, "n/a", "", "", "", run.load, "", ""])
                continue
            median = harness.median(values)
            goal = f"median < {TARGET_BROWSER_MS:g}" if judged else ""
            verdict = ("ok" if median < TARGET_BROWSER_MS else "MISSED") if judged else ""
            figures = [median, harness.percentile(values, 90), min(values), max(values)]
            rows.append([name, run.cache, *(f"{v:.0f}" for v in figures), run.load, goal, verdict])
    headers = [
        "milestone (ms from navigation start)",
        "cache",
        "median",
        "p90",
        "min",
        "max",
        "load",
        "target",
        "",
    ]
    return harness.table(headers, rows)


def _page_facts(series: list[PageLoads]) -> str:
    first = series[0].loads[0]
    return (
        f"{first['papers']} papers, {first['math']} formulas in view rendered by KaTeX, "
        f"{first['bytes'] / 1024:.0f} KiB of HTML; {len(series[0].loads)} loads per row"
    )


def _full_collections(pauses: list[tuple[int, float]]) -> str:
    """How many generation-2 collections ran while measuring, and the longest of them."""
    full = [ms for generation, ms in pauses if generation == 2]
    return f"{len(full)}, longest {max(full):.0f} ms" if full else "0"


def listing_missed(samples: list[Sample]) -> bool:
    page = next(s for s in samples if s.path == PAGE and s.mode == "in-process")
    return harness.percentile(page.times_ms, 99) >= TARGET_P99_MS[PAGE]


def bench_database(target: harness.Target, args: argparse.Namespace) -> None:
    with harness.fresh_database(target) as url, tempfile.TemporaryDirectory() as folder:
        summary, day = load_day(url, args.size, args.stars)
        print(f"\n{target.name} ({harness.load_average()} before): {summary}")
        got = measure(url, Path(folder), day, args)
        print(
            f"\nserver, {args.warmup} warm-up + {args.runs} measured requests per row; {len(day.stars)} stars"
        )
        print(f"uptime at the end: {got.server_uptime}")
        print(result_table(got.samples))
        if got.loads:
            print(f"\nChromium {_chromium_version()}: {PAGE} from uvicorn; {_page_facts(got.loads)}")
            print(f"uptime at the end: {got.browser_uptime}")
            print(browser_table(got.loads))
        if args.profile or listing_missed(got.samples):
            import profile_listing  # only when asked: cProfile and the app's internals

            print(profile_listing.report(got.app, CATEGORY, got.samples[0].times_ms))
        get_sessionmaker().kw["bind"].dispose()  # the app's engine, before the database goes
        get_settings.cache_clear()


def _chromium_version() -> str:
    try:
        out = subprocess.run(
            [str(CHROMIUM), "--version"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip().removeprefix("Chromium ").split(" ")[0]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1000, help="papers in the day (default 1000)")
    parser.add_argument(
        "--stars", type=int, default=50, help="starred papers sent to the ranking (default 50)"
    )
    parser.add_argument("--warmup", type=int, default=20, help="requests before measuring (default 20)")
    parser.add_argument("--runs", type=int, default=300, help="requests measured per row (default 300)")
    parser.add_argument("--loads", type=int, default=10, help="page loads in Chromium per row (default 10)")
    parser.add_argument("--no-http", action="store_true", help="skip the uvicorn-over-HTTP measurement")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium page loads")
    parser.add_argument("--profile", action="store_true", help="break the listing page down even if fast")
    parser.add_argument("--postgres-url", help="PostgreSQL server URL (default: $TEST_DATABASE_URL)")
    parser.add_argument("--postgres", action="store_true", help="fail unless PostgreSQL is available")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    databases = harness.targets(args.postgres_url, require_postgres=args.postgres)
    print("\n".join(harness.machine_lines(databases)))
    print(f"{args.size} papers in {CATEGORY}; targets: listing p99 < {TARGET_P99_MS[PAGE]:g} ms, ranking p99 < "
          f"{TARGET_P99_MS[RANK_LABEL]:g} ms, first paint and interactive < {TARGET_BROWSER_MS:g} ms")  # fmt: skip
    for target in databases:
        bench_database(target, args)


if __name__ == "__main__":
    main()
