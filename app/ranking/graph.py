"""The day's papers as a graph of nearest neighbours, for spreading a reader's stars along it.

A linear model (centroid, SVM) scores each paper by itself; a topic that curves through the vector
space (two categories, a field with sub-fields) is followed better by walking from the starred
papers to their neighbours, and on to theirs: a personalised PageRank on the day's k-nearest-
neighbour graph (Zhou et al.'s label spreading, symmetric normalisation). The graph is built once
per prepared day, on first use; a reader then costs a few sparse products.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from app.ranking.building import building

NEIGHBOURS = 10
DAMPING = 0.9  # the share of each step that walks on (the rest restarts at the stars)
STEPS = 15  # 0.9^15 ~ 0.2: later steps move the order little
# Cells of the cosine matrix made at once: ~4 MB of cosines and 8 MB of argpartition's indexes. Rows
# of 1,024 at a time held ~120 MB on a 5,000-paper day, two readers of two new days at once twice that.
BLOCK_CELLS = 1 << 20


@dataclass(frozen=True, slots=True)
class _Knn:
    """Each paper's NEIGHBOURS nearest (n x k) and the edges' weights, normalised D^-1/2 W D^-1/2 for
    the graph W = A + A' (a neighbour either way)."""

    nearest: NDArray[np.intp]
    weights: NDArray[np.float64]

    def times(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """W_normalised @ values: the A part row by row, the A' part scattered back."""
        out = (self.weights * values[self.nearest]).sum(axis=1)
        back = (self.weights * values[:, None]).ravel()
        return np.asarray(out + np.bincount(self.nearest.ravel(), back, minlength=len(values)))


@dataclass
class DayGraph:
    vectors: NDArray[np.float32]  # the day's vectors, unit length
    _knn: _Knn | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def knn(self) -> _Knn:
        with self._lock:
            if self._knn is None:
                with building():
                    self._knn = _normalised_knn(self.vectors)
            return self._knn

    def spread(self, seeds: Sequence[int]) -> NDArray[np.float64]:
        """Per paper, how much of a walk restarting at `seeds` (rows, repeats weigh more) ends there."""
        n = len(self.vectors)
        if n < 2 or not len(seeds):
            return np.zeros(n)
        knn = self.knn()
        restart = np.bincount(np.asarray(seeds, dtype=np.intp), minlength=n) / len(seeds)
        walk = restart.astype(np.float64)
        for _ in range(STEPS):
            walk = DAMPING * knn.times(walk) + (1.0 - DAMPING) * restart
        return walk


def _normalised_knn(vectors: NDArray[np.float32]) -> _Knn:
    n, k = len(vectors), min(NEIGHBOURS, len(vectors) - 1)
    nearest = np.zeros((n, k), dtype=np.intp)
    weights = np.zeros((n, k))
    rows = max(1, BLOCK_CELLS // n)
    for start in range(0, n, rows):
        cosines = vectors[start : start + rows] @ vectors.T
        block = np.arange(start, min(start + rows, n))
        cosines[block - start, block] = -np.inf  # not its own neighbour
        found = np.argpartition(cosines, n - k, axis=1)[:, n - k :]  # the k largest, in no order
        nearest[block] = found
        # Cosines below 0 are no closeness; a small floor keeps every paper connected.
        weights[block] = np.maximum(np.take_along_axis(cosines, found, axis=1), 1e-3)
    degree = weights.sum(axis=1) + np.bincount(nearest.ravel(), weights.ravel(), minlength=n)
    scale = 1.0 / np.sqrt(np.maximum(degree, 1e-12))
    return _Knn(nearest, weights * scale[:, None] * scale[nearest])
