"""Heavy pages rendered at once in one web process: a bound on what a burst of requests can take.

Shared by the pages (app/web), the API (app/api) and the MCP tools: each handler that reads many rows
runs on the PAGE_THREADS page threads (`on_page_threads`), and a big render takes a slot (below).

A listing of thousands of papers reads every row of its day and renders megabytes of HTML: thirty
at once took a web process from 150 MB to 1.75 GB. So a render of a day of over HEAVY_PAPERS papers
(its rows are all read, even for a page of 25) takes one of a few slots per process, one render per
URL at a time: readers of the same page wait for its one render (kept by app/httpcache.py) rather
than rendering it again side by side; a render that finds no slot within a second is refused with
503 + Retry-After rather than queued without end. A page kept already needs no slot.

Where its memory goes matters as much as how many run at once. Measured on a 5,000-paper day, 15
readers at once of one `sort=popular` page (then rendered per request, sent uncached and gzipped by
the middleware on the event loop) took a process from 350 to 775 MB; 362 MB with MALLOC_ARENA_MAX=2:
each request thread allocates in its own glibc arena, and an arena keeps what it grew to. Now that
page is kept like the others (its counters are in its stamp, app/store/popularity.py), and a heavy
render, its encoding and its compression run on one of the gate's own SLOTS threads, whose arenas are
reused render after render; what a render freed is handed back to the system after it
(`malloc_trim`). The same 15 readers with the page cache off (PAGE_CACHE_MB=0: 15 renders in turn)
now peak at 333 MB (315 MB with MALLOC_ARENA_MAX=2, too little to ask of every launch).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import os
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, ParamSpec, TypeVar

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from app.httpcache import Validation, kept_or_made, kept_response
from app.memory import release_free_memory

HEAVY_PAPERS = 500  # papers of a day (all read, however few are shown) from which a render takes a slot
SLOTS = 2  # heavy renders at once per process (each ~100-150 MB at MAX_SHOW on a 5,000-paper day)
SLOT_WAIT = 3.0  # seconds a heavy render waits for a slot before the 503
SAME_PAGE_WAIT = 10.0  # seconds a reader waits for another reader's render of the same page
RETRY_AFTER = 2
# Page handlers (rows to HTML: CPU and the GIL) running at once per process. Each runnable thread
# is one more in the queue for the GIL that the event loop (health checks, streams) waits in: with
# anyio's default of 40, 20 hostile requests at once put /healthz p99 at 55-66 ms on 2 cores
# (benchmarks/abuse.py); with 2, 39 ms. Requests past them wait in the threads' queue, costing nothing.
# Every handler that reads many rows runs on them: pages, the API's day, edition and ranking, MCP.
# They are the process's own, at RENDER_NICE: thirty "for you" rankings at once (CPU-bound numpy on
# anyio's threads, at the event loop's priority) held /healthz p99 at 50-58 ms; on these, 13-22 ms.
PAGE_THREADS = 2
T = TypeVar("T")
P = ParamSpec("P")
T_co = TypeVar("T_co", covariant=True)


RENDER_NICE = 5  # page and heavy-render threads yield the CPU to the event loop and light requests


def _yield_cpu() -> None:
    """Lower this thread's CPU priority (Linux schedules threads, so a thread has its own)."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), RENDER_NICE)


class RenderGate:
    """At most `slots` heavy renders at once, and one per key (the URL)."""

    def __init__(self, slots: int) -> None:
        self._slots = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._pages: dict[str, tuple[threading.Lock, int]] = {}  # key -> its lock, readers holding it
        # Never more than `slots` renders are submitted (each holds a slot): a free thread is always there.
        self._threads = ThreadPoolExecutor(slots, thread_name_prefix="heavy-render", initializer=_yield_cpu)

    def run(self, key: str, make: Callable[[], T]) -> T:
        """`make()` (the render of `key`) on one of the gate's threads, holding a slot; memory trimmed after.

        The calling thread waits without the GIL; the request's context (its id, for logs) goes along.
        """
        with self.slot(key):
            try:
                return self._threads.submit(contextvars.copy_context().run, make).result()
            finally:
                release_free_memory()

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


class PageThreads:
    """Page handlers run on this process's `threads` page threads, at RENDER_NICE: the event loop
    (health checks, streams) and its light requests come first for the CPU. The request's context
    (its id, for logs) goes along."""

    def __init__(self, threads: int) -> None:
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="page", initializer=_yield_cpu)

    async def run(self, call: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, contextvars.copy_context().run, call)


@dataclass(frozen=True, slots=True)
class HeavyRender(Generic[T_co]):
    """A heavy render a page handler hands back rather than waits for: its wait for a slot, or for
    another reader's render of the page, then holds a thread of the shared pool, not a page thread
    (two such waits held every listing of the process behind them)."""

    key: str
    make: Callable[[], T_co]

    def __call__(self) -> T_co:
        return heavy_renders.run(self.key, self.make)


@dataclass(frozen=True, slots=True)
class OffPageThreads(Generic[T_co]):
    """The rest of a page a handler hands back because it waits (for arXiv, up to LOOKUP_GRACE): run on
    the shared pool, so that two such waits never hold every page thread."""

    make: Callable[[], T_co]

    def __call__(self) -> T_co:
        return self.make()


heavy_renders = RenderGate(SLOTS)
page_threads = PageThreads(PAGE_THREADS)


def heavy(papers: int) -> bool:
    """A render that reads this many papers takes a slot."""
    return papers > HEAVY_PAPERS


def kept_or_rendered(
    request: Request,
    checked: Validation,
    papers: int,
    *,
    make: Callable[[], bytes],
    media_type: str,
    variant: str = "",
) -> Response | HeavyRender[Response]:
    """The page kept by URL in the one cache of costly responses (app/httpcache.py) while the stamp
    holds, else made; `papers`: how many the render reads. A heavy render holds a slot, and is handed
    back (HeavyRender); the cache is asked first without one, so a kept page never waits behind
    renders of others."""
    if not heavy(papers):
        return kept_or_made(request, checked, media_type=media_type, make=make, variant=variant)
    kept = kept_response(request, checked, variant=variant)
    if kept is not None:
        return kept
    # Readers of this page meanwhile wait for this render and then find it kept.
    return HeavyRender(
        str(request.url) + variant,
        lambda: kept_or_made(request, checked, media_type=media_type, make=make, variant=variant),
    )


async def answered(made: T | HeavyRender[T] | OffPageThreads[T]) -> T:
    """What a page handler made; what it handed back (a heavy render, a wait) is run on the shared pool."""
    if isinstance(made, HeavyRender | OffPageThreads):
        return await run_in_threadpool(made)
    return made


def on_page_threads(
    handler: Callable[P, T | HeavyRender[T] | OffPageThreads[T]],
) -> Callable[P, Awaitable[T]]:
    """A sync page handler, run on the page threads (`page_threads`) rather than the shared pool.

    FastAPI reads the handler's own parameters (the signature, its annotations resolved here where
    the handler's module can resolve them) and awaits the wrapper. The return annotation is left out:
    FastAPI would take a HeavyRender in it for a response model.
    """

    @functools.wraps(handler)
    async def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return await answered(await page_threads.run(functools.partial(handler, *args, **kwargs)))

    signature = inspect.signature(handler, eval_str=True).replace(return_annotation=inspect.Signature.empty)
    run.__signature__ = signature  # type: ignore[attr-defined]
    return run
