"""Per-client rate limits: fixed windows counted in Redis when present, in-process otherwise."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import lru_cache

import redis
from fastapi import Request

from app.config import Settings, get_settings
from app.errors import CoolPapersError


class RateLimitedError(CoolPapersError):
    """Too many requests from one client in a window; `retry_after` seconds until the next."""

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class Counter:
    """hit(key, window) -> the number of hits of `key` in the current window of `window` seconds."""

    def __init__(self, redis_url: str | None):
        self._redis = (
            redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1) if redis_url else None
        )
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
                pass  # Redis away: fall back to this process's count rather than refuse everyone
        return self._hit_local(name, slot)

    def _hit_local(self, name: str, slot: int) -> int:
        with self._lock:
            _, count = self._local.get(name, (slot, 0))
            self._local[name] = (slot, count + 1)
            if len(self._local) > 100_000:  # drop finished windows
                self._local = {k: v for k, v in self._local.items() if v[0] >= slot}
            return count + 1


@lru_cache
def _counter(redis_url: str | None) -> Counter:
    return Counter(redis_url)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def check_rate(settings: Settings, *, bucket: str, client: str, limit: int, window: int = 60) -> None:
    count = _counter(settings.redis_url).hit(f"{bucket}:{client}", window)
    if count > limit:
        retry = window - int(time.time()) % window
        raise RateLimitedError(
            f"too many {bucket} requests: at most {limit} per {window} s", retry_after=retry
        )


def rate_limit(bucket: str, limit_of: Callable[[Settings], int]) -> Callable[[Request], None]:
    """A FastAPI dependency limiting each client to `limit_of(settings)` requests a minute."""

    def dependency(request: Request) -> None:
        settings = get_settings()
        check_rate(settings, bucket=bucket, client=client_address(request), limit=limit_of(settings))

    return dependency
