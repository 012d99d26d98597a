"""Fetching from arXiv over HTTP: the RSS feeds, the Atom API and OAI-PMH (I/O only, no parsing).

Politeness is built in: a User-Agent naming the deployment, conditional GETs, at most one request per
`min_interval` seconds through a `RateLimiter`, bounded sizes and times, and retries with exponential
backoff and jitter on 429 / 5xx / timeouts / broken connections that honour `Retry-After`.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol, Self

import httpx

from app.errors import FetchError

if TYPE_CHECKING:
    from app.config import Settings

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
API_MAX_RESULTS = 2000


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One response: `body` is None when the server answered 304 Not Modified."""

    url: str  # the URL finally fetched, query included
    status: int
    body: bytes | None
    etag: str | None
    last_modified: str | None

    @property
    def not_modified(self) -> bool:
        return self.status == 304 and self.body is None


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


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP date); None if unusable."""
    if not value or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value.strip())
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


class _TransientError(Exception):
    """An attempt failed in a way worth retrying (never leaves this module)."""

    def __init__(self, cause: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(cause)
        self.cause = cause
        self.status = status
        self.retry_after = retry_after


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self.limiter = limiter
        self._sleep = sleep
        self._http = httpx.Client(
            headers={"User-Agent": user_agent},
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            follow_redirects=True,
            transport=transport,
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
        validators = (("If-None-Match", etag), ("If-Modified-Since", last_modified))
        headers = {name: value for name, value in validators if value}
        attempt = 0
        while True:
            self.limiter.wait()
            try:
                result = self._attempt(url, params, headers)
            except _TransientError as exc:
                if attempt >= self.retries:
                    message = f"GET {url} failed after {attempt + 1} attempt(s): {exc.cause}"
                    logger.info("arxiv fetch gave up", extra={"url": url, "status": exc.status})
                    raise FetchError(message, status=exc.status, retry_after=exc.retry_after) from exc
                delay = self._retry_delay(attempt, exc.retry_after)
                logger.info(
                    "arxiv fetch retry",
                    extra={"url": url, "status": exc.status, "attempt": attempt + 1, "delay_s": delay},
                )
                self._sleep(delay)
                attempt += 1
                continue
            if result.not_modified:
                result = replace(
                    result, etag=result.etag or etag, last_modified=result.last_modified or last_modified
                )
            return result

    def _retry_delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        return min(self.backoff * 2.0**attempt * random.uniform(0.5, 1.5), self.max_retry_after)

    def _attempt(
        self, url: str, params: Mapping[str, str | int] | None, headers: dict[str, str]
    ) -> FetchResult:
        logger.debug("arxiv fetch", extra={"url": url})
        try:
            with self._http.stream("GET", url, params=params, headers=headers) as response:
                return self._read(url, response)
        except httpx.TimeoutException as exc:
            raise _TransientError(f"timed out ({_one_line(exc)})") from exc
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise _TransientError(f"connection failed ({_one_line(exc)})") from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise FetchError(f"GET {url} failed: {_one_line(exc)}") from exc

    def _read(self, url: str, response: httpx.Response) -> FetchResult:
        status = response.status_code
        if status in RETRY_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise _TransientError(f"HTTP {status}", status=status, retry_after=retry_after)
        body = None
        if status != 304:
            if not 200 <= status < 300:
                raise FetchError(f"GET {url} failed: HTTP {status} {response.reason_phrase}", status=status)
            body = self._read_body(url, response)
        logger.info("arxiv fetched", extra={"url": url, "status": status, "bytes": len(body or b"")})
        return FetchResult(
            url=str(response.url),
            status=status,
            body=body,
            etag=response.headers.get("ETag"),
            last_modified=response.headers.get("Last-Modified"),
        )

    def _read_body(self, url: str, response: httpx.Response) -> bytes:
        declared = response.headers.get("Content-Length", "")
        too_big = f"GET {url} failed: body larger than the limit of {self.max_bytes} bytes"
        if declared.strip().isdigit() and int(declared) > self.max_bytes:
            raise FetchError(too_big, status=response.status_code)
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise FetchError(too_big, status=response.status_code)
            chunks.append(chunk)
        return b"".join(chunks)


def _day(value: dt.date | None) -> str | None:
    """OAI-PMH day granularity (YYYY-MM-DD), also for a datetime."""
    if value is None:
        return None
    return (value.date() if isinstance(value, dt.datetime) else value).isoformat()
