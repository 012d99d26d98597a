"""Handing memory a burst of work freed back to the system.

glibc keeps what an arena grew to: after a heavy render or a day's ranking build, a process would
otherwise stay at the high-water mark of its last burst (app/renders.py, app/ranking/building.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    if trim is None:
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim  # type: ignore[no-any-return]


def release_free_memory() -> None:
    """Give the pages malloc holds free back to the system (a few ms after a heavy render).

    Without it a process stays at the high-water mark of its last burst: glibc returns only the top
    of its main heap by itself, not the free middle of an arena.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
