"""The words side of "for you": TF-IDF cosine of each candidate to the starred papers' centroid.

MiniLM vectors and TF-IDF miss different things (a paraphrase; a rare technical term), and on
simulated readers (benchmarks/foryou.py) their blend beat either alone. The day's vectoriser (as
arxiv-sanity-lite's compute.py: unigrams and bigrams, sublinear tf, English stop words, terms in at
least 2 and at most half of the papers, the MAX_FEATURES most frequent) is fitted once per prepared
day, on first use: readers without stars never pay for it.

Terms are hashed (HashingVectorizer) and the columns kept as TfidfVectorizer would keep its
vocabulary's: building and sorting that vocabulary held the GIL for up to 60 ms at a time on 4,000
papers, every other request of the process waiting (benchmarks/abuse.py). Hashed: at most 3 ms, a
fit in 280 ms instead of 430, and "for you" within 0.001 of it (mean over 5 draws of readers).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from cachetools import LRUCache
from numpy.typing import NDArray

from app.ranking.building import building

MAX_FEATURES = 20_000
N_FEATURES = 1 << 20  # hashed columns before the cut: few collisions among a day's ~300,000 terms
STARS_KEPT = 5000  # transformed star texts kept per day (sparse rows, ~1-2 KB each)
WORD = r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b"  # compute.py's: words start with a letter


@dataclass
class DayTerms:
    texts: list[str]  # per candidate: title and abstract
    _fitted: tuple[Any, Any] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # Starred papers of other days, transformed once per day: a reader sends the same stars each time.
    _rows: LRUCache[str, Any] = field(default_factory=lambda: LRUCache(STARS_KEPT), repr=False)

    def fitted(self) -> tuple[Any, Any]:
        """(vectoriser, candidates' l2-normalised TF-IDF rows), made once."""
        with self._lock:
            if self._fitted is None:
                with building():
                    self._fitted = self._fit()
                self.texts = []  # the matrix holds what is needed; the day's cache holds several
            return self._fitted

    def _fit(self) -> tuple[Any, Any]:
        if not self.texts:  # sklearn's hasher cannot take none
            return None, None
        from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

        hasher = HashingVectorizer(
            strip_accents="unicode",
            stop_words="english",
            token_pattern=WORD,
            ngram_range=(1, 2),
            n_features=N_FEATURES,
            alternate_sign=False,
            norm=None,
            dtype=np.float32,
        )
        counts = hasher.transform(self.texts).tocsr()
        papers = counts.shape[0]
        df = np.bincount(counts.indices, minlength=N_FEATURES)  # a CSR row holds each column once
        usable = (df >= (1 if papers < 50 else 2)) & (df <= 0.5 * papers)
        frequency = np.bincount(counts.indices, weights=counts.data, minlength=N_FEATURES)
        frequency[~usable] = -1.0
        columns = np.sort(np.argsort(-frequency, kind="stable")[: min(MAX_FEATURES, int(usable.sum()))])
        if not len(columns):  # no word at all (a day of empty texts): no lexical signal
            return None, None
        tfidf = TfidfTransformer(sublinear_tf=True)
        return _Vectoriser(hasher, columns, tfidf), tfidf.fit_transform(counts[:, columns])

    def centroid_scores(self, rows: Sequence[int], texts: Sequence[str]) -> NDArray[np.float64] | None:
        """Per candidate, the cosine of its TF-IDF to the centroid of candidate `rows` and `texts`
        (starred papers of other days); None without words to compare."""
        if not rows and not texts:
            return None
        vectoriser, matrix = self.fitted()
        if vectoriser is None:
            return None
        parts = [np.asarray(matrix[list(rows)].sum(axis=0)).ravel()] if rows else []
        if texts:
            parts.append(self._transformed(vectoriser, texts))
        centre = np.sum(parts, axis=0)
        norm = float(np.sqrt(np.square(centre).sum()))  # not BLAS's dot: its threads contend in a busy server
        if not norm:
            return None
        return np.asarray(matrix @ (centre / norm), dtype=np.float64).ravel()

    def _transformed(self, vectoriser: Any, texts: Sequence[str]) -> NDArray[np.float64]:
        """The sum of the texts' TF-IDF rows, each transformed once per day."""
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._rows]
        if missing:
            rows = vectoriser.transform(missing)
            with self._lock:
                for i, text in enumerate(missing):
                    self._rows[text] = rows[i]
        with self._lock:
            kept = [self._rows.get(t) for t in texts]
        total = np.zeros(len(vectoriser.columns))
        for row in kept:
            if row is not None:
                total[row.indices] += row.data
        return total


@dataclass(frozen=True, slots=True)
class _Vectoriser:
    """Texts to the day's l2-normalised TF-IDF rows: hashed, cut to the kept columns, weighted."""

    hasher: Any
    columns: NDArray[np.intp]
    tfidf: Any

    def transform(self, texts: Sequence[str]) -> Any:
        return self.tfidf.transform(self.hasher.transform(texts).tocsr()[:, self.columns])
