"""The production topology as processes, with its own PostgreSQL and Redis so a test can stop them.

One deployment per module (starting it costs ~20 s): PostgreSQL 15 and Redis (append-only,
noeviction) on loopback, `coolpapers serve --workers 2` (uvicorn, two web processes), a
`fetch,summarize` worker, an `embed` worker with the real bundled model, and beat; arXiv is a
loopback server replaying a recorded day feed. The tests run in order and each leaves the
deployment healthy again (that is what they check).

Skipped without PostgreSQL's binaries or redis-server, and outside the PostgreSQL pass of
`make test` (TEST_DATABASE_URL unset): the suite runs once, not in both passes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis
from celery import Celery

from app.config import Settings
from tests.loopback import LoopbackServer, Reply
from tests.workers.conftest import EMPTY_API, FEED, Proc, client_app, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "topology-admin-token-for-tests"
MEASURED: dict[str, float] = {}  # recovery times, printed at the end of the session


def _pg_bin() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _as_postgres(argv: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: the cluster belongs to `postgres` then (as tests/services.sh).
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


class Postgres:
    """A throwaway PostgreSQL cluster that a test may stop and start again."""

    def __init__(self, folder: Path, port: int):
        found = _pg_bin()
        assert found is not None
        self.bin: Path = found
        self.folder, self.port = folder, port
        self.data = folder / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/coolpapers"

    def init(self) -> None:
        self.folder.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        initdb = [
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
        ]
        subprocess.run(_as_postgres([*initdb, "--locale=C.UTF-8"]), check=True, capture_output=True)
        self.start()
        createdb = [str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        subprocess.run([*createdb, "coolpapers"], check=True, capture_output=True)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        argv = [
            str(self.bin / "pg_ctl"),
            "-w",
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "log"),
            "-o",
            options,
        ]
        subprocess.run(_as_postgres([*argv, "start"]), check=True, capture_output=True)

    def stop(self) -> None:
        argv = [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]
        subprocess.run(_as_postgres(argv), check=False, capture_output=True)


@dataclass
class Deployment:
    """The processes, the services and the loopback arXiv of one module's tests."""

    folder: Path
    postgres: Postgres
    redis_port: int
    arxiv: LoopbackServer
    web_port: int
    procs: dict[str, Proc] = field(default_factory=dict)
    client: Celery | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def settings(self) -> Settings:
        return Settings(
            database_url=self.postgres.url, redis_url=self.redis_url, data_dir=self.folder / "data"
        )

    def env(self, **extra: str) -> dict[str, str]:
        # Scheduled rounds half an hour ago, every day: a worker that starts owes that round.
        round_time = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)).strftime("%H:%M")
        return {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": self.postgres.url,
            "REDIS_URL": self.redis_url,
            "DATA_DIR": str(self.folder / "data"),
            "ARXIV_RSS_URL": f"{self.arxiv.url}/rss",
            "ARXIV_API_URL": f"{self.arxiv.url}/api/query",
            "ARXIV_CATEGORIES": "cs.LG",
            "ARXIV_MIN_INTERVAL": "0",
            "ARXIV_RETRIES": "0",
            "FOLLOW_OPENED_DAYS": "0",
            "SCHEDULE_TIMES": round_time,
            "SCHEDULE_DAYS": "*",
            "TASK_RETRY_BACKOFF": "1",
            # Only a worker's start catches up within these tests (beat's round is an hour away).
            "CATCHUP_SECONDS": "3600",
            "EMBED_BACKEND": "torch",
            "EMBED_DEVICE": "cpu",
            "EMBED_PRELOAD": "true",
            "INDEX_RELOAD_SECONDS": "0.5",
            "PAGE_FRESH_SECONDS": "0",
            "RATE_SEARCH_PER_MINUTE": "60",  # the default, as the issue measured it
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "LOG_LEVEL": "INFO",
            **extra,
        }

    def start(self, name: str, argv: list[str], **extra: str) -> Proc:
        log = self.folder / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.env(**extra),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[name] = Proc(name, popen, log)
        return self.procs[name]

    def worker(self, name: str, queues: str, **extra: str) -> Proc:
        argv = [
            sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "--pool=prefork",
            "--concurrency=1", "-Q", queues, "--loglevel=INFO", "--without-gossip", "--without-mingle",
            "--without-heartbeat", "-n", f"{name}@topology",
        ]  # fmt: skip
        return self.start(name, argv, **extra)

    def web(self) -> Proc:
        argv = [sys.executable, "-m", "app.cli", "serve", "--port", str(self.web_port), "--workers", "2"]
        return self.start("web", argv, PROMETHEUS_MULTIPROC_DIR=str(self.folder / "metrics"))

    def beat(self) -> Proc:
        return self.start(
            "beat", [sys.executable, "-m", "celery", "-A", "workers.celery_app", "beat", "--loglevel=INFO"]
        )

    def redis_server(self) -> Proc:
        argv = [
            "redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--appendonly", "yes",
            "--maxmemory-policy", "noeviction", "--save", "", "--dir", str(self.folder / "redis"),
        ]  # fmt: skip
        proc = self.start("redis", argv)
        wait_for(self._redis_answers, timeout=10, what="redis-server", logs=self.logs)
        return proc

    def _redis_answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.redis_port, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def web_children(self) -> list[int]:
        """The uvicorn worker processes under the serve command."""
        pid = self.procs["web"].pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return [
            int(c)
            for c in children
            if b"multiprocessing.spawn" in _cmdline(int(c)) and b"resource_tracker" not in _cmdline(int(c))
        ]

    def get(self, path: str, **kwargs: object) -> httpx.Response | None:
        try:
            return httpx.get(f"{self.base}{path}", timeout=10, **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError:
            return None

    def logs(self) -> str:
        return "\n".join(f"----- {p.name} (pid {p.pid}) -----\n{p.tail(40)}" for p in self.procs.values())

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.kill_tree(signal.SIGKILL)
        for proc in self.procs.values():
            proc.stop()
        self.postgres.stop()


def _cmdline(pid: int) -> bytes:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    return b""


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    if not os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("the topology suite runs once, in the PostgreSQL pass of `make test` (tests/services.sh)")
    if _pg_bin() is None or shutil.which("redis-server") is None:
        pytest.skip("needs PostgreSQL's binaries and redis-server (tests/services.sh installs them)")
    folder = Path(tempfile.mkdtemp(prefix="coolpapers-topology-"))
    folder.chmod(0o755)  # PostgreSQL's cluster, owned by `postgres`, lives inside
    (folder / "redis").mkdir()
    arxiv = LoopbackServer({"/rss/cs.LG": Reply(200, FEED), "/api/query": Reply(200, EMPTY_API)}).start()
    deployment = Deployment(folder, Postgres(folder / "pg", free_port()), free_port(), arxiv, free_port())
    try:
        deployment.postgres.init()
        deployment.redis_server()
        migrate = subprocess.run(
            [sys.executable, "-m", "alembic", "upgrade", "heads"],  # "heads": while branches coexist
            cwd=ROOT,
            env=deployment.env(),
            capture_output=True,
        )
        assert migrate.returncode == 0, migrate.stderr.decode()[-2000:]
        deployment.client = client_app(deployment.settings)
        yield deployment
    finally:
        deployment.stop_all()
        if deployment.client is not None:
            deployment.client.close()
        arxiv.close()
        kept = Path(tempfile.gettempdir()) / "coolpapers-topology-last"  # the logs of the last run, to read
        shutil.rmtree(kept, ignore_errors=True)
        kept.mkdir()
        for log in folder.glob("*.log"):
            shutil.copy(log, kept / log.name)
        shutil.rmtree(folder, ignore_errors=True)
        if MEASURED:
            print("\nrecovery times measured (s):", {k: round(v, 1) for k, v in MEASURED.items()})


def measure(name: str, started: float) -> float:
    MEASURED[name] = time.monotonic() - started
    return MEASURED[name]
