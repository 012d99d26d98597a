"""One lazy build of a prepared day's parts at a time per process, and its memory handed back after.

A day's TF-IDF fit, SVM eigenbasis and neighbour graph are made on first use, each holding 20-45 MB
for a moment on a 4,000-paper set. Thirty readers, each with a set of their own, came in at once:
two page threads built side by side, and a web process kept the high-water mark of every build
(benchmarks/abuse.py). Each part takes the lock innermost, after its own, and holds no other inside.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from app.memory import release_free_memory

_BUILD_LOCK = threading.Lock()


@contextmanager
def building() -> Iterator[None]:
    """Hold the build lock for one part's build, then hand back what the build freed."""
    with _BUILD_LOCK:
        yield
    release_free_memory()
