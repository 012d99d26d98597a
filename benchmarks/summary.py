"""FAQ summaries: a cached summary served, and the latency the service adds to the model's first token.

    .venv/bin/python benchmarks/summary.py            # SQLite
    tests/services.sh .venv/bin/python benchmarks/summary.py --postgres

Targets: a cached summary served with p99 < 10 ms; overhead added to the model's own time to first
token < 50 ms. The model is the OpenAI-compatible loopback server of the tests (tests/llm_server.py)
with a fixed first-token delay, so "the model's time to first token" is measured by calling it
directly with the project's client, and the service's by reading the summary's event stream.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from harness import fresh_database, load_now, median, percentile, table, targets  # noqa: E402

FEED = ROOT / "tests" / "data" / "api" / "api-2025-cs-100-entries.xml"
WARMUP = 2  # the first generations pay for imports and the client's TLS context


def model_ttft(base_url: str, runs: int) -> list[float]:
    from app.summarize.client import OpenAICompatibleClient

    times = []
    with OpenAICompatibleClient(base_url=base_url, model="fake-llm") as client:
        for _ in range(runs):
            first: list[float] = []
            start = time.perf_counter()
            client.stream([{"role": "user", "content": "hi"}], on_delta=functools.partial(_first, first))
            times.append((first[0] - start) * 1000)
    return times


def _first(seen: list[float], _delta: str) -> None:
    if not seen:
        seen.append(time.perf_counter())


def service_ttft(client, paper: str) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    with client.stream("GET", f"/api/v1/papers/{paper}/summary?stream=true") as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and '"answer": "' in line and '"answer": ""' not in line:
                return (time.perf_counter() - start) * 1000
    raise RuntimeError("no answer streamed")


def wait_ready(client, paper: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 60
    while client.get(f"/api/v1/papers/{paper}/summary").status_code != 200:
        if time.monotonic() > deadline:
            raise RuntimeError(f"summary of {paper} not ready")
        time.sleep(0.05)


def run(url: str, name: str, requests: int, samples: int) -> list[list[object]]:
    from fastapi.testclient import TestClient

    from tests.llm_server import FakeLLMServer

    with FakeLLMServer(first_token_delay=0.2, chunk_delay=0.002) as llm:
        os.environ |= {"DATABASE_URL": url, "LLM_BASE_URL": llm.base_url, "LLM_MODEL": "fake-llm",
                       "SUMMARY_FULL_TEXT": "false", "RATE_SUMMARY_PER_MINUTE": "1000000"}  # fmt: skip
        from app.config import get_settings

        get_settings.cache_clear()
        from app.store.ingest import ingest_file

        ingest_file(get_settings(), path=FEED, category=None, day=None)
        from sqlalchemy import select

        from app.main import create_app
        from app.store.db import session_scope
        from app.store.models import Paper

        with session_scope(get_settings()) as session:
            papers = list(session.scalars(select(Paper.arxiv_id).order_by(Paper.id).limit(WARMUP + samples)))
        baseline = model_ttft(llm.base_url, 5)
        with TestClient(create_app()) as client:
            measured = []
            for paper in papers:  # one at a time: no queueing behind an earlier generation
                measured.append(service_ttft(client, paper))
                wait_ready(client, paper)
            measured = measured[WARMUP:]
            for _ in range(20):
                client.get(f"/api/v1/papers/{papers[0]}/summary")
            cached = []
            for _ in range(requests):
                start = time.perf_counter()
                client.get(f"/api/v1/papers/{papers[0]}/summary")
                cached.append((time.perf_counter() - start) * 1000)
    overhead = [m - median(baseline) for m in measured]
    return [
        [
            name,
            "model's own time to first token",
            f"{median(baseline):.1f}",
            f"{max(baseline):.1f}",
            "",
            load_now(),
        ],
        [
            name,
            "service time to first answer text (median of the samples)",
            f"{median(measured):.1f}",
            f"{max(measured):.1f}",
            "",
            load_now(),
        ],
        [name, "overhead added", f"{median(overhead):.1f}", f"{max(overhead):.1f}", "< 50", load_now()],
        [
            name,
            "cached summary served (p50 / p99)",
            f"{median(cached):.2f}",
            f"{percentile(cached, 99):.2f}",
            "p99 < 10",
            load_now(),
        ],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres", action="store_true", help="also PostgreSQL (TEST_DATABASE_URL)")
    parser.add_argument("--requests", type=int, default=300, help="cached-summary requests to time")
    parser.add_argument("--samples", type=int, default=10, help="summaries whose first token is timed")
    args = parser.parse_args()
    rows: list[list[object]] = []
    for target in targets(None, require_postgres=args.postgres):
        with fresh_database(target) as url:
            rows += run(url, target.name, args.requests, args.samples)
    print(table(["database", "what", "median ms", "max / p99 ms", "target ms", "load"], rows))


if __name__ == "__main__":
    main()
