"""Per-client rate limits: fixed windows counted where every web process sees the same count.

- With Redis: in Redis (INCR + EXPIRE), whatever the number of web processes and hosts.
- Without Redis, one web process: in its memory.
- Without Redis, several web processes on one host (`uvicorn --workers N` spawns them as children
  of a supervisor): in a small SQLite file in DATA_DIR that they share, so a client's limit is the
  setting's number and not N times it. The file is also where the count goes while Redis is away.
"""

from __future__ import annotations

import ipaddress
import multiprocessing
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import redis
from fastapi import Request

from app.config import Settings, get_settings
from app.errors import RateLimitedError
from app.jobs import redis_client

RATE_FILE = "ratelimit.sqlite3"


class FileWindows:
    """Window counts in a SQLite file shared by the processes of one host (WAL: writers take turns
    in well under a millisecond; one connection per thread, as sqlite3 wants)."""

    def __init__(self, path: Path):
        self.path = path
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=5, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")  # counts of the last minute: not worth an fsync
            conn.execute(
                "CREATE TABLE IF NOT EXISTS hits (name TEXT PRIMARY KEY, expires REAL, count INTEGER)"
            )
            self._local.conn = conn
        return conn

    def hit(self, name: str, expires: float) -> int:
        conn = self._connection()
        if random.random() < 0.01:  # now and then, drop finished windows
            conn.execute("DELETE FROM hits WHERE expires < ?", (time.time(),))
        row = conn.execute(
            "INSERT INTO hits (name, expires, count) VALUES (?, ?, 1) "
            "ON CONFLICT(name) DO UPDATE SET count = count + 1 RETURNING count",
            (name, expires),
        ).fetchone()
        return int(row[0])


class WindowCounter:
    """hit(key, window) -> the number of hits of `key` in the current window of `window` seconds."""

    def __init__(self, redis_url: str | None, shared_file: Path | None):
        self._redis = redis_client(redis_url) if redis_url else None
        self._file = FileWindows(shared_file) if shared_file is not None else None
        self._local: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, window: int) -> int:
        slot = int(time.time() // window)
        name = f"coolpapers:rate:{key}:{slot}"
        if self._redis is not None:
            try:
                with self._redis.pipeline() as pipe:
                    pipe.incr(name)
                    pipe.expire(name, window + 1)
                    return int(pipe.execute()[0])
            except redis.RedisError:
                pass  # Redis away: count on this host rather than refuse everyone
        if self._file is not None:
            return self._file.hit(name, (slot + 1) * window + 1)
        return self._hit_local(name, slot)

    def _hit_local(self, name: str, slot: int) -> int:
        with self._lock:
            _, count = self._local.get(name, (slot, 0))
            self._local[name] = (slot, count + 1)
            if len(self._local) > 100_000:  # drop finished windows
                self._local = {k: v for k, v in self._local.items() if v[0] >= slot}
            return count + 1


def has_siblings() -> bool:
    """Whether this process is one of several a supervisor started (uvicorn --workers N starts
    each with multiprocessing); a lone `uvicorn` or a test is not."""
    return multiprocessing.parent_process() is not None


@lru_cache
def _counter(redis_url: str | None, data_dir: Path, shared: bool) -> WindowCounter:
    return WindowCounter(redis_url, data_dir / RATE_FILE if shared else None)


def counter_for(settings: Settings) -> WindowCounter:
    return _counter(settings.redis_url, settings.data_dir.resolve(), has_siblings())


def client_address(request: Request) -> str:
    """Who a request counts as for the per-client limits: its IPv4 address (an IPv4-mapped IPv6 one
    too), or the /64 of an IPv6 address, the block one subscriber holds (counted per address, a /64
    gave its holder 2^64 separate limits, and two spellings of one address two)."""
    host = request.client.host if request.client else "unknown"
    return counted_as(host)


@lru_cache(maxsize=4096)
def counted_as(host: str) -> str:
    """The client a connection from `host` counts as (see client_address)."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])  # without an IPv6 zone
    except ValueError:
        return host  # not an address (a test client's "testclient"): counted as given
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def check_rate(settings: Settings, *, bucket: str, client: str, limit: int, window: int = 60) -> None:
    count = counter_for(settings).hit(f"{bucket}:{client}", window)
    if count > limit:
        retry = window - int(time.time()) % window
        raise RateLimitedError(
            f"too many {bucket} requests: at most {limit} per {window} s", retry_after=retry
        )


def lookup_allowance(settings: Settings, client: str) -> Callable[[], bool]:
    """Whether `client` may start one more arXiv lookup this minute, asked only when one would start
    (app/store/lookup.py): one client held every lookup slot and the deployment's arXiv budget."""

    def allowed() -> bool:
        try:
            check_rate(settings, bucket="lookup", client=client, limit=settings.rate_lookup_per_minute)
        except RateLimitedError:
            return False
        return True

    return allowed


def rate_limit(bucket: str, limit_of: Callable[[Settings], int]) -> Callable[[Request], None]:
    """A FastAPI dependency limiting each client to `limit_of(settings)` requests a minute."""

    def dependency(request: Request) -> None:
        settings = get_settings()
        check_rate(settings, bucket=bucket, client=client_address(request), limit=limit_of(settings))

    return dependency
