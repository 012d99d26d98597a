"""Heavy pages rendered at once in one web process: a bound on what a burst of requests can take.

A listing of thousands of papers reads every row of its day and renders megabytes of HTML: thirty
at once took a web process from 150 MB to 1.75 GB. So a render of a day of over HEAVY_PAPERS papers
(its rows are all read, even for a page of 25) takes one of a few slots per process, one render per
URL at a time: readers of the same page wait for its one render (kept by app/httpcache.py) rather
than rendering it again side by side; a render that finds no slot within a second is refused with
503 + Retry-After rather than queued without end. A page kept already needs no slot.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import HTTPException

HEAVY_PAPERS = 500  # papers of a day (all read, however few are shown) from which a render takes a slot
SLOTS = 2  # heavy renders at once per process (each ~100-150 MB at MAX_SHOW on a 5,000-paper day)
SLOT_WAIT = 1.0  # seconds a heavy render waits for a slot before the 503
SAME_PAGE_WAIT = 10.0  # seconds a reader waits for another reader's render of the same page
RETRY_AFTER = 2


class RenderGate:
    """At most `slots` heavy renders at once, and one per key (the URL)."""

    def __init__(self, slots: int) -> None:
        self._slots = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._pages: dict[str, tuple[threading.Lock, int]] = {}  # key -> its lock, readers holding it

    @contextmanager
    def slot(self, key: str) -> Iterator[None]:
        """Hold a slot for rendering `key`; HTTPException 503 when none comes in time."""
        page = self._join(key)
        try:
            if not page.acquire(timeout=SAME_PAGE_WAIT):
                raise _busy()
            try:
                if not self._slots.acquire(timeout=SLOT_WAIT):
                    raise _busy()
                try:
                    yield
                finally:
                    self._slots.release()
            finally:
                page.release()
        finally:
            self._leave(key)

    def _join(self, key: str) -> threading.Lock:
        with self._lock:
            lock, readers = self._pages.get(key) or (threading.Lock(), 0)
            self._pages[key] = (lock, readers + 1)
            return lock

    def _leave(self, key: str) -> None:
        with self._lock:
            lock, readers = self._pages[key]
            if readers == 1:
                del self._pages[key]
            else:
                self._pages[key] = (lock, readers - 1)


def _busy() -> HTTPException:
    return HTTPException(
        503,
        "this server is rendering as many large pages as it can; try again in a moment",
        headers={"Retry-After": str(RETRY_AFTER)},
    )


heavy_renders = RenderGate(SLOTS)
