"""Fixtures of the worker tests: arXiv on a loopback server, and the real parts as processes.

In-process tests use the eager Celery app (no REDIS_URL). Tests of the real parts start `celery`,
`uvicorn` and `redis-server` as subprocesses against a real Redis (TEST_REDIS_URL, one database
number per test, flushed) and the fresh committed database of `settings_env`; they are skipped with
a reason when TEST_REDIS_URL is unset, and every process they start is killed at teardown.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from unittest import mock
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from celery import Celery
from celery.result import AsyncResult
from sqlalchemy import func, select

from app.config import Settings, get_settings
from app.store.db import get_sessionmaker, session_scope
from app.store.models import Embedding, FetchLog, Listing, Paper
from tests.conftest import DATA
from tests.daily_feeds import daily_feed
from tests.fakes import FakeEmbedder
from tests.loopback import LoopbackServer, Reply

ROOT = Path(__file__).resolve().parents[2]
FEED = daily_feed("cs.LG")
FEED_IDS = ("2609.26811", "2609.26820", "2205.06398", "2009.13987")
FEED_DAY = "2026-09-24"
# What the API answers for ids it does not know yet: a valid, empty Atom feed (recorded).
_RECORDED_EMPTY = DATA / "api/arxiv.py-recorded/id_0000.0000_s0_m100_8b51d9633a68.json"
EMPTY_API = json.loads(_RECORDED_EMPTY.read_text())["body"].encode()
EMPTY_FEED = daily_feed("cs.LG", empty=True)  # a weekend: arXiv serves the channel with no items
HTML_PAGE = b"<!DOCTYPE html><html><head><title>arXiv is down for maintenance</title></head></html>"
# The production `worker` service's queues. `embed` is the embedder's (tested with the real model in
# tests/search): a test worker loading torch would only slow these tests down.
WORKER_QUEUES = "fetch,summarize"
T = TypeVar("T")
_redis_numbers = itertools.count()


# ---------------------------------------------------------------------------------------------
# Shared by both kinds of tests


def counts(settings: Settings) -> tuple[int, int]:
    """(papers, listings) in the database of `settings`."""
    with session_scope(settings) as session:
        papers = session.scalar(select(func.count()).select_from(Paper)) or 0
        listings = session.scalar(select(func.count()).select_from(Listing)) or 0
    return papers, listings


def embedded(settings: Settings) -> int:
    with session_scope(settings) as session:
        return session.scalar(select(func.count()).select_from(Embedding)) or 0


def stored_ids(settings: Settings) -> list[str]:
    with session_scope(settings) as session:
        return sorted(session.scalars(select(Paper.arxiv_id)))


def fetch_logs(settings: Settings) -> list[FetchLog]:
    with session_scope(settings) as session:
        return list(session.scalars(select(FetchLog).order_by(FetchLog.id)))


def wait_for(probe: Callable[[], T | None], *, timeout: float, what: str, logs: Callable[[], str] = str) -> T:
    """Poll `probe` every 50 ms until it returns something truthy; fail with `what` and the logs."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs()}")
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def fake_embedder(monkeypatch: pytest.MonkeyPatch) -> FakeEmbedder:
    """In-process `embed.papers` (queued after each ingest) uses the fake: no model load here."""
    embedder = FakeEmbedder()
    monkeypatch.setattr("app.search.refresh.get_embedder", lambda settings: embedder)
    return embedder


@pytest.fixture
def arxiv(settings_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackServer]:
    """rss.arxiv.org and export.arxiv.org on loopback: cs.LG's day, and an API that knows nothing yet.

    ARXIV_RSS_URL / ARXIV_API_URL point at it (and ARXIV_RETRIES=0: a failed request is the task's
    failure, which the task retries itself); `get_settings()` sees it.
    """
    with LoopbackServer({"/rss/cs.LG": Reply(200, FEED), "/api/query": Reply(200, EMPTY_API)}) as server:
        monkeypatch.setenv("ARXIV_RSS_URL", f"{server.url}/rss")
        monkeypatch.setenv("ARXIV_API_URL", f"{server.url}/api/query")
        monkeypatch.setenv("ARXIV_RETRIES", "0")
        get_settings.cache_clear()
        yield server
    get_settings.cache_clear()
    dispose_engine(settings_env)


def dispose_engine(settings: Settings) -> None:
    """Close the pooled connections of the test's own database (each test has a new one)."""
    get_sessionmaker(settings).kw["bind"].dispose()


# ---------------------------------------------------------------------------------------------
# Real processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Proc:
    """A subprocess in its own process group (so a whole tree can be killed), logging to a file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill_tree(self, sig: signal.Signals = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the group (a warm shutdown), then SIGKILL what is left."""
        if self.alive():
            self.kill_tree(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        self.kill_tree(signal.SIGKILL)  # the pool's children too, even when the parent is gone
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Cluster:
    """The production shape as processes, started on demand and all killed at teardown."""

    tmp: Path
    redis_url: str
    client: Celery
    procs: list[Proc] = field(default_factory=list)

    def env(self, **overrides: str) -> dict[str, str]:
        """The test's environment (DATABASE_URL, DATA_DIR, ARXIV_* from the fixtures) plus Redis.

        No catch-up round (CATCHUP_SECONDS=0) unless a test asks: these tests count the tasks and
        requests they cause; tests/topology tests the catch-up.
        """
        return {
            **os.environ, "REDIS_URL": self.redis_url, "PYTHONUNBUFFERED": "1", "CATCHUP_SECONDS": "0", **overrides,
        }  # fmt: skip

    def start(self, name: str, argv: list[str], env: Mapping[str, str]) -> Proc:
        log = self.tmp / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                argv, cwd=ROOT, env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def worker(self, name: str, *, wait: bool = True, **env: str) -> Proc:
        """`celery worker` (prefork, one child) consuming every queue, named `name@test`."""
        argv = [
            sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
            "--pool=prefork", "--concurrency=1", "-Q", WORKER_QUEUES, "--loglevel=INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{name}@test",
        ]  # fmt: skip
        proc = self.start(name, argv, self.env(**env))
        if wait:
            self.wait_ready(proc)
        return proc

    def workers(self, *names: str, **env: str) -> list[Proc]:
        """Several workers, started together, each ready when this returns."""
        procs = [self.worker(name, wait=False, **env) for name in names]
        for proc in procs:
            self.wait_ready(proc)
        return procs

    def use_redis(self, url: str) -> None:
        """Point the client (and the processes started from now on) at another Redis."""
        self.client.close()
        self.redis_url = url
        self.client = client_app(get_settings().model_copy(update={"redis_url": url}))

    def wait_ready(self, proc: Proc, timeout: float = 40.0) -> None:
        """Until the worker answers a ping over the broker (it is then consuming)."""

        def pong() -> bool:
            if not proc.alive():
                raise AssertionError(f"{proc.name} exited with {proc.popen.returncode}\n{proc.tail()}")
            return bool(self.client.control.ping(destination=[f"{proc.name}@test"], timeout=0.3))

        wait_for(pong, timeout=timeout, what=f"worker {proc.name} to answer a ping", logs=self.logs)

    def send(self, name: str, *args: object) -> AsyncResult:
        return self.client.send_task(name, args=list(args))

    def result(self, task_id: str) -> AsyncResult:
        return AsyncResult(task_id, app=self.client)

    def wait_done(self, task_id: str, *, timeout: float = 40.0) -> AsyncResult:
        """Until the task is SUCCESS or FAILURE (polled: the logs come with a timeout)."""
        result = self.result(task_id)
        wait_for(
            lambda: result.state in ("SUCCESS", "FAILURE"),
            timeout=timeout,
            what=f"task {task_id} (state {result.state})",
            logs=self.logs,
        )
        return result

    def logs(self) -> str:
        return "\n".join(f"----- {p.name} (pid {p.pid}) -----\n{p.tail()}" for p in self.procs)

    def stop_all(self) -> None:
        """SIGKILL to every process group: nothing a test started outlives it (and no test waits
        for warm shutdowns: their Redis database and SQL database are thrown away)."""
        for proc in self.procs:
            proc.kill_tree(signal.SIGKILL)
        for proc in self.procs:
            proc.stop()


def _redis_url_number(base: str, number: int) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{number}"))


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A flushed database of the test Redis (numbers 1-15 in turn: 0 stays the developer's)."""
    base = os.environ.get("TEST_REDIS_URL")
    if not base:
        pytest.skip(
            "needs a real Redis: TEST_REDIS_URL is unset (run under tests/services.sh or `make test`)"
        )
    url = _redis_url_number(base, 1 + next(_redis_numbers) % 15)
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


def client_app(settings: Settings) -> Celery:
    """A Celery client configured like the workers (routes, serializers, transport options)."""
    from workers import celery_app as module

    with mock.patch.object(module, "get_settings", return_value=settings):
        config = module.celery_config()
    app = Celery("coolpapers-test-client", set_as_current=False)
    app.conf.update(config)
    return app


@pytest.fixture
def cluster(settings_env: Settings, redis_url: str, tmp_path: Path) -> Iterator[Cluster]:
    """Start processes with `cluster.worker(...)` / `cluster.start(...)`; all are killed at the end."""
    cluster = Cluster(
        tmp_path, redis_url, client_app(get_settings().model_copy(update={"redis_url": redis_url}))
    )
    try:
        yield cluster
    finally:
        cluster.stop_all()
        cluster.client.close()
        dispose_engine(settings_env)


# ---------------------------------------------------------------------------------------------
# A TCP proxy that can play a database going away


class FlakyProxy:
    """Forwards 127.0.0.1:port to `target`; while down it hangs up on every new connection and has
    cut the ones it carried (as a restarting PostgreSQL does)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.refused = 0
        self._up = threading.Event()
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def up(self) -> None:
        self._up.set()

    def down(self) -> None:
        self._up.clear()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def close(self) -> None:
        self.down()
        self._listener.close()
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            if not self._up.is_set():
                self.refused += 1
                conn.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                conn.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open += [conn, upstream]
            threading.Thread(target=self._pump, args=(conn, upstream), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(a, selectors.EVENT_READ, b)
            sel.register(b, selectors.EVENT_READ, a)
            try:
                while True:
                    for key, _ in sel.select(timeout=1.0):
                        data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                        if not data:
                            return
                        key.data.sendall(data)
            except OSError:
                return
            finally:
                a.close()
                b.close()
