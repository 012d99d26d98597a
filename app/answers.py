"""Answers given a moment ago, given again: the web tier's defence against many readers at once.

A listing or paper page (and a listing's JSON) asked for again within PAGE_FRESH_SECONDS gets the
same bytes without touching the database; when that answer gets old, one request makes the next
while the others still get it (no stampede), up to STALE_AT_MOST windows old.
"""

from __future__ import annotations

import gzip
import threading
import time

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.config import get_settings
from app.lru import BoundedCache

STALE_AT_MOST = 10  # x PAGE_FRESH_SECONDS: then every request waits for a new answer again
ANSWERS_SHARE = 2  # of PAGE_CACHE_MB: the recent answers get half of it


class ServedPage:
    """A page as last served, counters filled, with its gzip form (zlib level 1: ~5x smaller for
    ~15 ms once per page and window, where a 3 MB listing would otherwise cross the network whole).
    """

    __slots__ = ("_lock", "_refreshing", "at", "body", "gzipped", "media_type")

    def __init__(self, body: bytes, at: float, media_type: str) -> None:
        self.body = body
        self.gzipped = gzip.compress(body, compresslevel=1, mtime=0)  # before it is shared
        self.at = at  # time.monotonic() when it was made
        self.media_type = media_type
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
        return len(self.body) + len(self.gzipped)


_answers: BoundedCache[ServedPage] = BoundedCache(0, weigh=lambda page: page.size)


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
        _answers.limit = settings.page_cache_mb * 2**20 // ANSWERS_SHARE
        _answers.put(key, ServedPage(body, time.monotonic(), media_type))


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
        body = served.gzipped if accepts else served.body
        headers = [(b"content-type", served.media_type.encode()), (b"content-length", str(len(body)).encode()),
                   (b"vary", b"Accept-Encoding")] + ([(b"content-encoding", b"gzip")] if accepts else [])  # fmt: skip
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
