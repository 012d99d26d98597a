"""One attempt of a polite, bounded, conditional GET: what the arXiv and venue clients share.

An attempt either returns a `FetchResult` (2xx, or 304 with no body), raises `TransientHTTPError`
(timeouts, dropped connections, 429 and 5xx: `http_retry` tries again), or raises the caller's own
error (`fail`) for anything retrying cannot mend. The body is read in chunks and refused past
`max_bytes`, whatever the server declared.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import httpx
from tenacity import Retrying

from app.http_retry import RETRY_STATUSES, GiveUpError, TransientHTTPError, parse_retry_after

logger = logging.getLogger(__name__)
# A whole response may take this many read timeouts (a minute at least): httpx bounds each read, and a
# server sending a few bytes before each timeout held a worker for minutes (136 s for a 9 KB feed).
WHOLE_RESPONSE_READS = 4
WHOLE_RESPONSE_MIN = 60.0  # seconds


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


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def attempt_get(
    http: httpx.Client,
    url: str,
    *,
    params: Mapping[str, str | int] | None,
    headers: Mapping[str, str],
    max_bytes: int,
    fail: GiveUpError,
    source: str,
) -> FetchResult:
    """GET `url` once; `source` names the service in the log line ("arxiv", "venue")."""
    deadline = time.monotonic() + max(WHOLE_RESPONSE_MIN, WHOLE_RESPONSE_READS * (http.timeout.read or 30.0))
    try:
        with http.stream("GET", url, params=params, headers=dict(headers)) as response:
            result = _read(url, response, max_bytes=max_bytes, fail=fail, deadline=deadline)
    except httpx.TimeoutException as exc:
        raise TransientHTTPError(f"GET {url}", f"timed out ({one_line(exc)})") from exc
    except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        raise TransientHTTPError(f"GET {url}", f"connection failed ({one_line(exc)})") from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise fail(f"GET {url} failed: {one_line(exc)}", status=None, retry_after=None) from exc
    size = len(result.body or b"")
    logger.info("%s fetched", source, extra={"url": url, "status": result.status, "bytes": size})
    return result


def _read(
    url: str, response: httpx.Response, *, max_bytes: int, fail: GiveUpError, deadline: float
) -> FetchResult:
    status = response.status_code
    if status in RETRY_STATUSES:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise TransientHTTPError(f"GET {url}", f"HTTP {status}", status=status, retry_after=retry_after)
    body = None
    if status != 304:
        if not 200 <= status < 300:
            message = f"GET {url} failed: HTTP {status} {response.reason_phrase}"
            raise fail(message, status=status, retry_after=None)
        body = _read_body(url, response, max_bytes=max_bytes, fail=fail, deadline=deadline)
    return FetchResult(
        url=str(response.url),
        status=status,
        body=body,
        etag=response.headers.get("ETag"),
        last_modified=response.headers.get("Last-Modified"),
    )


def _read_body(
    url: str, response: httpx.Response, *, max_bytes: int, fail: GiveUpError, deadline: float
) -> bytes:
    too_big = f"GET {url} failed: body larger than the limit of {max_bytes} bytes"
    declared = response.headers.get("Content-Length", "")
    if declared.strip().isdigit() and int(declared) > max_bytes:
        raise fail(too_big, status=response.status_code, retry_after=None)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise fail(too_big, status=response.status_code, retry_after=None)
        if time.monotonic() > deadline:
            raise TransientHTTPError(f"GET {url}", f"timed out: the response still came after {size} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def http_client(
    *, user_agent: str, timeout: float, connect_timeout: float, transport: httpx.BaseTransport | None
) -> httpx.Client:
    """The client every fetcher uses: its own User-Agent, bounded times, redirects followed."""
    return httpx.Client(
        headers={"User-Agent": user_agent},
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        follow_redirects=True,
        transport=transport,
    )


def conditional_get(
    retrying: Retrying,
    attempt: Callable[[dict[str, str]], FetchResult],
    *,
    etag: str | None,
    last_modified: str | None,
) -> FetchResult:
    """`attempt(headers)` under `retrying`, asking only for a newer version than the validators name.

    A 304 keeps the validators it was asked with where the server did not repeat them.
    """
    validators = (("If-None-Match", etag), ("If-Modified-Since", last_modified))
    headers = {name: value for name, value in validators if value}
    result: FetchResult = retrying(attempt, headers)
    if result.not_modified:
        result = replace(
            result, etag=result.etag or etag, last_modified=result.last_modified or last_modified
        )
    return result
