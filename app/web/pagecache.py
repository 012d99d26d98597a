"""Rendered listing pages, kept per web process and served again while their day is unchanged.

A listing of 1,000 papers is ~3 MB of HTML whose rendering costs tens of milliseconds; the day it
shows rarely changes, but its PDF / FAQ counters change all the time. So a page is cached as bytes
split around its counters, keyed by everything it shows (the day's `DayStamp` included), and each
request only reads the counters and joins the parts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

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
