"""Fetching from arXiv over HTTP: the RSS feeds, the Atom API and OAI-PMH (I/O only, no parsing).

Politeness is built in: a User-Agent naming the deployment, conditional GETs, at most one request per
`min_interval` seconds through a `RateLimiter`, bounded sizes and times, and retries with exponential
backoff and jitter on 429 / 5xx / timeouts / broken connections that honour `Retry-After`.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, Self

import httpx

from app.errors import ArxivUnavailableError, FetchError
from app.http_get import FetchResult, attempt_get, conditional_get, http_client
from app.http_retry import http_retrying

if TYPE_CHECKING:
    from app.config import Settings

logger = logging.getLogger(__name__)

API_MAX_RESULTS = 2000


class RateLimiter(Protocol):
    """Blocks until the caller may send its next request."""

    def wait(self) -> None: ...


class IntervalLimiter:
    """In-process limiter: request starts at least `min_interval` seconds apart, across threads.

    Each caller reserves the next free slot under a lock, then sleeps outside it, so waiting
    threads queue up in order instead of all waking at once.
    """

    def __init__(
        self,
        min_interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if min_interval < 0:
            raise ValueError("min_interval must be >= 0")
        self.min_interval = min_interval
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = -math.inf

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self.min_interval
        if slot > now:
            self._sleep(slot - now)


_process_limiters: dict[float, IntervalLimiter] = {}
_process_limiters_lock = threading.Lock()


def process_limiter(min_interval: float) -> IntervalLimiter:
    """The limiter shared by every client of this process that uses `min_interval`."""
    with _process_limiters_lock:
        return _process_limiters.setdefault(min_interval, IntervalLimiter(min_interval))


class ArxivClient:
    """A polite, bounded HTTP client for arXiv's feeds, API and OAI-PMH endpoint."""

    def __init__(
        self,
        *,
        rss_url: str,
        api_url: str,
        oai_url: str,
        user_agent: str,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        max_bytes: int = 50_000_000,
        retries: int = 4,
        backoff: float = 1.0,
        max_retry_after: float = 300.0,
        limiter: RateLimiter,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rss_url = rss_url.rstrip("/")
        self.api_url = api_url
        self.oai_url = oai_url
        self.max_bytes = max_bytes
        self.retries = retries
        self.limiter = limiter
        self._retrying = http_retrying(
            name="arxiv fetch",
            retries=retries,
            backoff=backoff,
            max_wait=max_retry_after,
            give_up_as=ArxivUnavailableError,
            sleep=sleep,
            give_up_past_max_wait=True,  # a task retries after it, not holding a worker meanwhile
        )
        self._http = http_client(
            user_agent=user_agent, timeout=timeout, connect_timeout=connect_timeout, transport=transport
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, limiter: RateLimiter | None = None) -> Self:
        """A client configured from `Settings`; by default it shares this process's limiter."""
        return cls(
            rss_url=settings.arxiv_rss_url,
            api_url=settings.arxiv_api_url,
            oai_url=settings.arxiv_oai_url,
            user_agent=settings.user_agent,
            timeout=settings.arxiv_timeout,
            max_bytes=settings.arxiv_max_bytes,
            retries=settings.arxiv_retries,
            limiter=limiter if limiter is not None else process_limiter(settings.arxiv_min_interval),
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def fetch_listing(
        self, categories: Sequence[str], *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """The daily RSS feed of one or more categories (`cs.LG+stat.ML`), conditionally."""
        return self.get(self.listing_url(categories), etag=etag, last_modified=last_modified)

    def listing_url(self, categories: Sequence[str]) -> str:
        """The URL `fetch_listing` requests (the key of the fetch log)."""
        if isinstance(categories, str) or not categories:
            raise ValueError("categories must be a non-empty sequence of category names")
        return f"{self.rss_url}/{'+'.join(categories)}"

    def fetch_api(
        self,
        *,
        id_list: Sequence[str] = (),
        search_query: str | None = None,
        start: int = 0,
        max_results: int = 100,
        sort_by: str | None = None,
        sort_order: str | None = None,
    ) -> FetchResult:
        """One page of the Atom API (`max_results` capped at the API's 2000)."""
        if isinstance(id_list, str):
            raise ValueError("id_list must be a sequence of ids, not a string")
        params = {
            "search_query": search_query,
            "id_list": ",".join(id_list) or None,
            "start": max(0, start),
            "max_results": max(0, min(max_results, API_MAX_RESULTS)),
            "sortBy": sort_by,
            "sortOrder": sort_order,
        }
        return self.get(self.api_url, params={k: v for k, v in params.items() if v is not None})

    def fetch_oai(
        self,
        *,
        resumption_token: str | None = None,
        from_date: dt.date | None = None,
        until_date: dt.date | None = None,
        set_spec: str | None = None,
    ) -> FetchResult:
        """One page of OAI-PMH ListRecords (metadataPrefix=arXiv); a resumption token goes alone."""
        if resumption_token is not None:
            return self.get(self.oai_url, params={"verb": "ListRecords", "resumptionToken": resumption_token})
        params = {
            "verb": "ListRecords",
            "metadataPrefix": "arXiv",
            "from": _day(from_date),
            "until": _day(until_date),
            "set": set_spec,
        }
        return self.get(self.oai_url, params={k: v for k, v in params.items() if v is not None})

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> FetchResult:
        """GET with rate limiting, size limit and retries; raises FetchError when it gives up."""

        def attempt(headers: dict[str, str]) -> FetchResult:
            self.limiter.wait()
            logger.debug("arxiv fetch", extra={"url": url})
            return attempt_get(
                self._http,
                url,
                params=params,
                headers=headers,
                max_bytes=self.max_bytes,
                fail=FetchError,
                source="arxiv",
            )

        return conditional_get(self._retrying, attempt, etag=etag, last_modified=last_modified)


def _day(value: dt.date | None) -> str | None:
    """OAI-PMH day granularity (YYYY-MM-DD), also for a datetime."""
    if value is None:
        return None
    return (value.date() if isinstance(value, dt.datetime) else value).isoformat()
