"""`coolpapers serve --workers 2` without Redis: what two web processes must agree on.

The metrics of both add up in one scrape (PROMETHEUS_MULTIPROC_DIR, emptied by `serve` at start),
one client's search limit is the setting's number (the count lives in DATA_DIR, shared), and
/readyz says ready only once the process has loaded the model (loaded in the background at start).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import DATA, _fresh_database
from tests.workers.conftest import Proc, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
SEARCH_LIMIT = 6


@dataclass
class Web:
    base: str
    proc: Proc
    metrics: Path


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    folder = tmp_path_factory.mktemp("web-processes")
    url = _fresh_database(folder)
    env = {
        **_plain_environment(),
        "DATABASE_URL": url,
        "DATA_DIR": str(folder / "data"),
        "PROMETHEUS_MULTIPROC_DIR": str(folder / "metrics"),
        "RATE_SEARCH_PER_MINUTE": str(SEARCH_LIMIT),
        "EMBED_PRELOAD": "true",
        "EMBED_BACKEND": "torch",
        "EMBED_DEVICE": "cpu",
        "PAGE_FRESH_SECONDS": "0",
        "PYTHONUNBUFFERED": "1",
    }
    ingest = [sys.executable, "-m", "app.cli", "ingest", "--file", str(DATA / "rss" / "atom-2024-csLG.xml")]
    subprocess.run(ingest, cwd=ROOT, env=env, check=True, capture_output=True)
    # Counts of an earlier run left in the folder: `serve` must empty it before the processes start.
    (folder / "metrics").mkdir()
    (folder / "metrics" / "histogram_999999.db").write_bytes(b"stale")
    port = free_port()
    log = folder / "web.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "2"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    proc = Proc("web", popen, log)
    try:
        wait_for(lambda: _get(f"http://127.0.0.1:{port}/healthz"), timeout=60, what="serve", logs=proc.tail)
        yield Web(f"http://127.0.0.1:{port}", proc, folder / "metrics")
    finally:
        proc.stop()


def _plain_environment() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "DATA_DIR")}


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=10)
    except httpx.TransportError:
        return None


def test_readyz_waits_for_the_model_loaded_at_start(web: Web) -> None:
    answers = []

    def loaded_in_both() -> bool:
        answer = httpx.get(f"{web.base}/readyz", timeout=10)
        body = answer.json()
        assert (answer.status_code == 200) == (body["model"] == "loaded"), body  # never ready while loading
        answers.append((body["process"], body["model"]))
        ready = {process for process, model in answers[-8:] if model == "loaded"}
        return len(ready) == 2

    wait_for(loaded_in_both, timeout=120, what="both processes' model", logs=web.proc.tail)
    assert answers[0][1] == "loading", answers[:3]  # loaded at start, not at the first search


def test_metrics_add_up_across_processes(web: Web) -> None:
    assert "histogram_999999.db" not in [p.name for p in web.metrics.iterdir()]

    def served() -> float:
        text = httpx.get(f"{web.base}/metrics", timeout=10).text
        lines = [
            line
            for line in text.splitlines()
            if line.startswith("coolpapers_http_request_duration_seconds_count")
        ]
        return sum(float(line.rsplit(" ", 1)[1]) for line in lines if 'route="/healthz"' in line)

    before = served()
    for _ in range(20):
        assert httpx.get(f"{web.base}/healthz", timeout=10).status_code == 200
    # Whichever process answers a scrape reports both processes' requests.
    assert {served() for _ in range(8)} == {before + 20}
    assert len(list(web.metrics.glob("histogram_*.db"))) == 2


def test_one_clients_search_limit_is_the_settings_number_without_redis(web: Web) -> None:
    while time.time() % 60 > 50:  # the whole burst in one fixed window
        time.sleep(0.5)
    answers = []
    for n in range(SEARCH_LIMIT + 4):  # the page and the API share one bucket per client
        path = f"/arxiv/search?query=learning+{n}" if n % 2 else f"/api/v1/search?q=learning+{n}"
        answers.append(httpx.get(f"{web.base}{path}", timeout=30).status_code)
    assert answers == [200] * SEARCH_LIMIT + [429] * 4, answers
