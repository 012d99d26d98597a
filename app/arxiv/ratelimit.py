"""The arXiv rate limit shared by every process of a deployment, kept in Redis.

arXiv asks for at most one request every 3 seconds, counted across all machines. Each caller
reserves the next free slot atomically (a Lua script on Redis's own clock, so hosts need not agree
on the time) and sleeps until it. Without Redis, the in-process `IntervalLimiter` is the fallback.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from app.arxiv.fetch import RateLimiter, process_limiter
from app.config import Settings

_RESERVE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local next_free = tonumber(redis.call('GET', KEYS[1]) or '0')
local interval = tonumber(ARGV[1])
local slot = math.max(now, next_free)
local ttl_ms = math.ceil((slot + interval - now) * 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.6f', slot + interval), 'PX', ttl_ms)
return string.format('%.6f', slot - now)
"""


class RedisIntervalLimiter:
    """At most one `wait()` return per `min_interval` seconds across every process sharing `key`."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        min_interval: float,
        key: str = "coolpapers:arxiv:next-slot",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._reserve = client.register_script(_RESERVE)
        self._key = key
        self._interval = min_interval
        self._sleep = sleep

    def wait(self) -> None:
        delay = float(self._reserve(keys=[self._key], args=[self._interval]))
        if delay > 0:
            self._sleep(delay)


def limiter_for(settings: Settings) -> RateLimiter:
    """Redis-shared when REDIS_URL is set, else per process."""
    if settings.redis_url:
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=10, socket_connect_timeout=5)
        return RedisIntervalLimiter(client, min_interval=settings.arxiv_min_interval)
    return process_limiter(settings.arxiv_min_interval)
