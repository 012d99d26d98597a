"""Answers given a moment ago, given again: the web tier's defence against many readers at once.

A listing or paper page (and a listing's JSON) asked for again within PAGE_FRESH_SECONDS gets the
same bytes without touching the database; when that answer gets old, one request makes the next
while the others still get it (no stampede), up to STALE_AT_MOST windows old.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.config import get_settings

STALE_AT_MOST = 10  # x PAGE_FRESH_SECONDS: then every request waits for a new answer again
ANSWERS_SHARE = 2  # of PAGE_CACHE_MB: the recent answers get half of it


class ServedPage:
    """A page as last served, counters filled: answered again as it is for a second or so.

    Its gzip form is made on the first request that accepts it (zlib level 1: ~5x smaller for
    ~15 ms once, where a 3 MB listing would otherwise cross the network whole to every reader).
    """

    __slots__ = ("_gzip", "_lock", "_refreshing", "at", "body", "media_type")

    def __init__(self, body: bytes, at: float, media_type: str) -> None:
        self.body = body
        self.at = at  # time.monotonic() when it was made
        self.media_type = media_type
        self._gzip: bytes | None = None
        self._lock = threading.Lock()
        self._refreshing = False

    def claim_refresh(self) -> bool:
        """True for the one request that makes the next version; the others answer with this one."""
        with self._lock:
            if self._refreshing:
                return False
            self._refreshing = True
            return True

    @property
    def size(self) -> int:
        return len(self.body) + len(self.body) // 5  # with its gzip form, about

    def gzipped(self) -> bytes:
        with self._lock:
            if self._gzip is None:
                self._gzip = gzip.compress(self.body, compresslevel=1, mtime=0)
            return self._gzip


class _Sized(Protocol):
    @property
    def size(self) -> int: ...


T = TypeVar("T", bound=_Sized)


class PageCache(Generic[T]):
    """A least-recently-used map of pages, bounded by their total size in bytes (thread-safe)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._pages: OrderedDict[Hashable, T] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> T | None:
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def put(self, key: Hashable, page: T) -> None:
        if page.size > self.max_bytes:
            return  # larger than the whole cache: served, not kept
        with self._lock:
            old = self._pages.pop(key, None)
            self._bytes -= old.size if old else 0
            self._pages[key] = page
            self._bytes += page.size
            while self._bytes > self.max_bytes:
                _, dropped = self._pages.popitem(last=False)
                self._bytes -= dropped.size

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._pages)


_answers: PageCache[ServedPage] = PageCache(max_bytes=0)


def answer_key(scope: Scope) -> tuple[str, bytes]:
    """What identifies an answer: the path and the raw query string (nothing else varies it)."""
    return str(scope["path"]), bytes(scope.get("query_string", b""))


def request_key(request: Request) -> tuple[str, bytes]:
    return answer_key(request.scope)


def usable_answer(key: tuple[str, bytes]) -> ServedPage | None:
    """The answer given to the same request a moment ago, if there is one to give again."""
    served, fresh = _answers.get(key), get_settings().page_fresh_seconds
    if served is None or fresh <= 0:
        return None
    age = time.monotonic() - served.at
    if age < fresh or (age < STALE_AT_MOST * fresh and not served.claim_refresh()):
        return served
    return None


def keep_answer(key: tuple[str, bytes], body: bytes, media_type: str) -> None:
    """Keep what a handler answered, for the same requests of the next PAGE_FRESH_SECONDS."""
    settings = get_settings()
    if settings.page_fresh_seconds > 0:
        answer = ServedPage(body, time.monotonic(), media_type)
        answer.gzipped()  # made before it is shared: no request waits for it
        _answers.max_bytes = settings.page_cache_mb * 2**20 // ANSWERS_SHARE
        _answers.put(key, answer)


def clear_answers() -> None:
    _answers.clear()


class RecentAnswers:
    """Give a kept answer straight from the event loop: no routing, no dependency, no thread."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        served = (
            usable_answer(answer_key(scope)) if scope["type"] == "http" and scope["method"] == "GET" else None
        )
        if served is None:
            await self.app(scope, receive, send)
            return
        accepts = b"gzip" in dict(scope.get("headers", [])).get(b"accept-encoding", b"")
        body = served.gzipped() if accepts else served.body
        headers = [(b"content-type", served.media_type.encode()), (b"content-length", str(len(body)).encode()),
                   (b"vary", b"Accept-Encoding")] + ([(b"content-encoding", b"gzip")] if accepts else [])  # fmt: skip
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
