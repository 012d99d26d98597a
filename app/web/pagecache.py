"""Rendered listing pages, kept per web process and served again while their day is unchanged.

A listing of 1,000 papers is ~3 MB of HTML whose rendering costs tens of milliseconds; the day it
shows rarely changes, but its PDF / FAQ counters change all the time. So a page is cached as bytes
split around its counters, keyed by everything it shows (the day's `DayStamp` included), and each
request only reads the counters and joins the parts.
"""

from __future__ import annotations

import gzip
import re
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

# A counter left open in a rendered page: private-use characters, never in text (see templating).
SLOT_MARK = "\ue001"
_SLOT_RE = re.compile(f"{SLOT_MARK}([pk])(\\d+){SLOT_MARK}")
_KINDS = {"p": "pdf", "k": "kimi"}


def counter_slot(paper_id: int, kind: str) -> str:
    """The mark a cached page holds where the paper's `kind` ("pdf" or "kimi") counter goes."""
    return f"{SLOT_MARK}{kind[0]}{paper_id}{SLOT_MARK}"


class CounterSlots(Mapping[int, Mapping[str, str]]):
    """Counts to render a page with: every paper's counters come out as slots to fill later."""

    def __getitem__(self, paper_id: int) -> Mapping[str, str]:
        return {"pdf": counter_slot(paper_id, "pdf"), "kimi": counter_slot(paper_id, "kimi")}

    def __iter__(self) -> Iterator[int]:
        return iter(())

    def __len__(self) -> int:
        return 0


@dataclass(frozen=True, slots=True)
class CachedPage:
    parts: tuple[bytes, ...]  # one more than slots: text, counter, text, ..., text
    slots: tuple[tuple[int, str], ...]  # (paper id, counter kind)
    paper_ids: tuple[int, ...]  # the papers whose counters the page shows

    @classmethod
    def from_html(cls, html: str) -> CachedPage:
        pieces = _SLOT_RE.split(html)  # text, kind, id, text, kind, id, ..., text
        slots = tuple((int(pid), _KINDS[kind]) for kind, pid in zip(pieces[1::3], pieces[2::3], strict=True))
        return cls(
            parts=tuple(piece.encode() for piece in pieces[0::3]),
            slots=slots,
            paper_ids=tuple(dict.fromkeys(pid for pid, _ in slots)),
        )

    @property
    def size(self) -> int:
        return sum(len(part) for part in self.parts)

    def render(self, counts: Mapping[int, Mapping[str, int]]) -> bytes:
        out = [self.parts[0]]
        for (paper_id, kind), part in zip(self.slots, self.parts[1:], strict=True):
            out.append(b"%d" % counts.get(paper_id, {}).get(kind, 0))
            out.append(part)
        return b"".join(out)


class ServedPage:
    """A page as last served, counters filled: answered again as it is for a second or so.

    Its gzip form is made on the first request that accepts it (zlib level 1: ~5x smaller for
    ~15 ms once, where a 3 MB listing would otherwise cross the network whole to every reader).
    """

    __slots__ = ("_gzip", "_lock", "at", "body")

    def __init__(self, body: bytes, at: float) -> None:
        self.body = body
        self.at = at  # time.monotonic() when it was made
        self._gzip: bytes | None = None
        self._lock = threading.Lock()

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
