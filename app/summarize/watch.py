"""Follow summaries while workers write them, for every stream of a web process at once.

One poller per event loop reads every followed summary in one short session per tick and wakes the
streams whose summary changed: a stream holds no database connection, and 50 streams cost what one
does. How many streams a process follows is bounded (`StreamSlots`): per client, then in total.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from anyio import to_thread
from sqlalchemy import select

from app.config import Settings
from app.errors import RateLimitedError, StreamsBusyError
from app.store.db import session_scope
from app.store.models import Summary
from app.summarize.dispatch import revive_abandoned
from app.summarize.service import FaqView, is_abandoned, prompt_for, view_of

log = logging.getLogger(__name__)
POLL_SECONDS = 0.05  # one read for all streams of the process: cheap, and ~50 ms of added latency
MAX_WAIT = 1800.0


def read_views(settings: Settings, summary_ids: list[int]) -> dict[int, FaqView]:
    """The current view of each summary still there, in one short transaction."""
    with session_scope(settings) as session:
        rows = session.scalars(select(Summary).where(Summary.id.in_(summary_ids))).all()
        views = {row.id: view_of(session, row, prompt_for(settings, row.lang)) for row in rows}
        lost = [row.id for row in rows if is_abandoned(row, settings)]
    if lost:  # its process stopped beating: start it over, and the readers see it start again
        revive_abandoned(settings, lost)
    return views


@dataclass(slots=True)
class _Followed:
    view: FaqView | None = None
    gone: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    followers: int = 0


class SummaryWatcher:
    """The poller of one event loop: `follow(summary_id)` yields each new state until it is done."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._followed: dict[int, _Followed] = {}
        self._task: asyncio.Task[None] | None = None

    async def follow(self, summary_id: int) -> AsyncIterator[FaqView]:
        entry = self._followed.setdefault(summary_id, _Followed())
        entry.followers += 1
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll())
        try:
            last: FaqView | None = None
            loop = asyncio.get_running_loop()
            deadline = loop.time() + MAX_WAIT
            while not entry.gone and loop.time() < deadline:
                view = entry.view
                if view is not None and _key(view) != (_key(last) if last else None):
                    last = view
                    yield view
                    if view.done:
                        return
                entry.changed.clear()
                if entry.view is view and not entry.gone:  # nothing new arrived while we yielded
                    try:
                        await asyncio.wait_for(entry.changed.wait(), timeout=max(deadline - loop.time(), 0))
                    except TimeoutError:
                        return
        finally:
            entry.followers -= 1
            if entry.followers <= 0:
                self._followed.pop(summary_id, None)

    async def _poll(self) -> None:
        while self._followed:
            ids = list(self._followed)
            try:
                views = await to_thread.run_sync(read_views, self.settings, ids)
            except Exception:  # the database away for a moment: the streams wait, the poller goes on
                log.warning("reading followed summaries failed", exc_info=True)
                await asyncio.sleep(1.0)
                continue
            for summary_id in ids:
                entry = self._followed.get(summary_id)
                if entry is None:
                    continue
                view = views.get(summary_id)
                if view is None:
                    entry.gone = True
                elif entry.view is None or _key(view) != _key(entry.view):
                    entry.view = view
                else:
                    continue
                entry.changed.set()
            await asyncio.sleep(POLL_SECONDS)


def _key(view: FaqView) -> tuple[object, ...]:
    return (
        view.status,
        len(view.answers),
        view.answers[-1]["answer"] if view.answers else "",
        view.queue_position,
        view.phase,  # "fetching the PDF (attempt 2 of 5)" before any answer: a change readers see
    )


_watchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, SummaryWatcher]] = (
    weakref.WeakKeyDictionary()
)


async def follow_faq(settings: Settings, first: FaqView) -> AsyncIterator[FaqView]:
    """`first` and each change after it, ending with a done (ready / failed) view; `first` alone when
    it is done already or has no row to follow (the extractive digest)."""
    if first.done or first.summary_id is None:
        yield first
        return
    per_loop = _watchers.setdefault(asyncio.get_running_loop(), {})
    watcher = per_loop.setdefault(settings.sqlalchemy_url, SummaryWatcher(settings))
    async for view in watcher.follow(first.summary_id):
        yield view


class StreamSlots:
    """How many FAQ streams this process follows: per client (429 beyond), and in all (503 beyond)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_client: dict[str, int] = {}
        self._total = 0

    @property
    def total(self) -> int:
        return self._total

    def take(self, settings: Settings, client: str) -> StreamSlot:
        with self._lock:
            if self._by_client.get(client, 0) >= settings.summary_streams_per_client:
                raise RateLimitedError(
                    f"at most {settings.summary_streams_per_client} FAQ streams at once per client: "
                    "close one, or poll without stream=true",
                    retry_after=5,
                )
            if self._total >= settings.summary_streams_total:
                raise StreamsBusyError("this server follows as many FAQ streams as it can: ask again shortly")
            self._by_client[client] = self._by_client.get(client, 0) + 1
            self._total += 1
        return StreamSlot(self, client)

    @contextmanager
    def taken(self, settings: Settings, client: str) -> Iterator[StreamSlot]:
        """A slot for a stream about to be opened: given back at once if opening it fails."""
        slot = self.take(settings, client)
        try:
            yield slot
        except BaseException:
            slot.release()
            raise

    def _give(self, client: str) -> None:
        with self._lock:
            left = self._by_client.get(client, 0) - 1
            if left > 0:
                self._by_client[client] = left
            else:
                self._by_client.pop(client, None)
            self._total -= 1


class StreamSlot:
    """One taken place; given back once, by `release()` or when the stream that holds it is collected."""

    def __init__(self, slots: StreamSlots, client: str):
        self._release = weakref.finalize(self, slots._give, client)

    def release(self) -> None:
        self._release()

    def hold_while(self, stream: AsyncIterator[str]) -> AsyncIterator[str]:
        """`stream`, giving the slot back when it ends, or when it is dropped without ever being read."""

        async def held() -> AsyncIterator[str]:
            try:
                async for item in stream:
                    yield item
            finally:
                self.release()

        wrapped = held()
        weakref.finalize(wrapped, self.release)
        return wrapped


stream_slots = StreamSlots()
