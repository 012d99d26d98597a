"""A least-recently-used map bounded by the total weight of its values (thread-safe).

One mechanism for the process-local caches: rendered pages and kept answers (weighed in bytes),
prepared days for "for you" and query vectors (weighed one each).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class BoundedCache(Generic[V]):
    def __init__(self, limit: int, weigh: Callable[[V], int] = lambda _: 1) -> None:
        self.limit = limit  # may be changed later (a setting read at use)
        self._weigh = weigh
        self._values: OrderedDict[Hashable, V] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> None:
        weight = self._weigh(value)
        if weight > self.limit:
            return  # heavier than the whole cache: used once, not kept
        with self._lock:
            old = self._values.pop(key, None)
            self._total += weight - (self._weigh(old) if old is not None else 0)
            self._values[key] = value
            while self._total > self.limit:
                _, dropped = self._values.popitem(last=False)
                self._total -= self._weigh(dropped)

    def values(self) -> list[V]:
        with self._lock:
            return list(self._values.values())

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._total = 0

    def __len__(self) -> int:
        return len(self._values)
