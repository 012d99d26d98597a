"""Fetching from conference sources over HTTP (I/O only, no parsing).

Politeness first: a User-Agent naming the deployment and its contact, at most one request per
`min_interval` seconds *per host* (OpenReview, the Anthology's raw XML, PMLR and CVF are different
servers with different patience), conditional GETs, bounded sizes and times, and the shared retry
policy of `app.http_retry` on 429 / 5xx / timeouts / broken connections, honouring `Retry-After`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Self
from urllib.parse import urlsplit

import httpx

from app.arxiv.fetch import IntervalLimiter
from app.errors import VenueFetchError
from app.http_get import FetchResult, attempt_get, conditional_get, http_client
from app.http_retry import http_retrying

if TYPE_CHECKING:
    from app.config import Settings

logger = logging.getLogger(__name__)


class HostLimiter:
    """An `IntervalLimiter` per host: request starts `min_interval` seconds apart per host, across threads."""

    def __init__(
        self,
        min_interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if min_interval < 0:  # refused here, not at the first request
            raise ValueError("min_interval must be >= 0")
        self._new_limiter = partial(IntervalLimiter, min_interval, clock=clock, sleep=sleep)
        self._lock = threading.Lock()
        self._hosts: dict[str, IntervalLimiter] = {}

    def wait(self, url: str) -> None:
        host = (urlsplit(url).hostname or "").lower()
        with self._lock:
            limiter = self._hosts.get(host) or self._hosts.setdefault(host, self._new_limiter())
        limiter.wait()


class VenueClient:
    """A polite, bounded HTTP client shared by every venue adapter."""

    def __init__(
        self,
        *,
        user_agent: str,
        min_interval: float = 2.0,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        max_bytes: int = 100_000_000,
        retries: int = 4,
        backoff: float = 1.0,
        max_retry_after: float = 300.0,
        limiter: HostLimiter | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.max_bytes = max_bytes
        self.limiter = limiter if limiter is not None else HostLimiter(min_interval, sleep=sleep)
        self._retrying = http_retrying(
            name="venue fetch",
            retries=retries,
            backoff=backoff,
            max_wait=max_retry_after,
            give_up_as=VenueFetchError,
            sleep=sleep,
        )
        self._http = http_client(
            user_agent=user_agent, timeout=timeout, connect_timeout=connect_timeout, transport=transport
        )

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> Self:
        """A client configured from `Settings` (keyword overrides for tests: `sleep`, `transport`)."""
        options: dict[str, object] = {
            "user_agent": settings.user_agent,
            "min_interval": settings.venue_min_interval,
            "timeout": settings.venue_timeout,
            "max_bytes": settings.venue_max_bytes,
            "retries": settings.venue_retries,
        }
        options.update(overrides)
        return cls(**options)  # type: ignore[arg-type]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> FetchResult:
        """GET with the per-host interval, size limit and retries; raises VenueFetchError when it gives up."""

        def attempt(headers: dict[str, str]) -> FetchResult:
            self.limiter.wait(url)
            logger.debug("venue fetch", extra={"url": url})
            return attempt_get(
                self._http,
                url,
                params=params,
                headers=headers,
                max_bytes=self.max_bytes,
                fail=VenueFetchError,
                source="venue",
            )

        return conditional_get(self._retrying, attempt, etag=etag, last_modified=last_modified)
