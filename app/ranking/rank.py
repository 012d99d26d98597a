"""Rank papers for a reader: by popularity, by publish time, or "for you" (stars and keywords).

"For you" follows arxiv-sanity: with few starred papers, cosine similarity to their centroid; with
five or more, a linear SVM separating them from the rest of the candidates. Keywords the reader
prefers add to that score. The reader's stars and keywords come with the request: nothing is kept.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.ranking.svm import DaySvm

SVM_MIN_STARS = 5
KEYWORD_WEIGHT = 0.5  # a keyword in the title moves a paper about as much as a close neighbour does


@dataclass(frozen=True, slots=True)
class Candidate:
    paper_id: int
    title: str
    abstract: str
    authors: Sequence[str]


def keyword_scores(candidates: Sequence[Candidate], keywords: Sequence[str]) -> NDArray[np.float64]:
    """Per paper, in [0, 1]: the share of keywords it mentions (a title hit counts double)."""
    return CandidateTexts.of(candidates).keyword_scores(keywords)


def keyword_terms(keywords: Iterable[str]) -> list[str]:
    """The distinct terms a reader's keywords scan for: lowered, trimmed, never holding the NUL
    that joins the scanned texts."""
    return list(dict.fromkeys(t for k in keywords if (t := k.replace("\x00", "").strip().lower())))


@dataclass(frozen=True, slots=True)
class CandidateTexts:
    """The candidates' titles, and their abstracts with authors, ready for keyword scans.

    Each is lowered and searched as one text joined by NUL (which no field holds and which no
    letter lowers to): one scan per term instead of one per term and paper.
    """

    titles: _Joined
    rests: _Joined

    @classmethod
    def of(cls, candidates: Sequence[Candidate]) -> CandidateTexts:
        return cls(
            _Joined([c.title for c in candidates]),
            _Joined([f"{c.abstract} {' '.join(c.authors)}" for c in candidates]),
        )

    def keyword_scores(self, keywords: Sequence[str]) -> NDArray[np.float64]:
        terms = keyword_terms(keywords)
        scores = np.zeros(self.titles.rows)
        if not terms or not self.titles.rows:
            return scores
        for term in terms:
            in_title = self.titles.rows_mentioning(term)
            in_rest = self.rests.rows_mentioning(term) & ~in_title
            scores += 2.0 * in_title + in_rest
        return scores / (2.0 * len(terms))


class _Joined:
    """Texts lowered as one string, with where each starts, to map a match back to its row."""

    def __init__(self, texts: list[str]) -> None:
        text = "\x00".join(texts)
        if text.count("\x00") != len(texts) - 1:  # stored text holds no NUL (the parser drops them)
            text = "\x00".join(t.replace("\x00", " ") for t in texts)
        self.text = text.lower()
        self.rows = len(texts)
        # Row r spans (ends[r-1], ends[r]).
        self.ends = np.fromiter(_nul_positions(self.text), dtype=np.int64, count=len(texts) - 1)

    def rows_mentioning(self, term: str) -> NDArray[np.bool_]:
        """Rows holding `term` as a whole word (no word character on either side, as `\\b` would)."""
        text, size = self.text, len(term)
        starts = []
        at = text.find(term)  # a C scan; a regex starting with a lookbehind tries every position
        while at >= 0:
            end = at + size
            if not (at and _is_word(text[at - 1])) and not (end < len(text) and _is_word(text[end])):
                starts.append(at)
            at = text.find(term, at + 1)
        hit = np.zeros(self.rows, dtype=bool)
        if starts:
            hit[np.searchsorted(self.ends, np.asarray(starts, dtype=np.int64))] = True
        return hit


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _nul_positions(text: str) -> Iterator[int]:
    at = text.find("\x00")
    while at >= 0:
        yield at
        at = text.find("\x00", at + 1)


def centroid_scores(
    candidate_vectors: NDArray[np.float32], star_vectors: NDArray[np.float32]
) -> NDArray[np.float64]:
    """Per candidate, in [-1, 1]: the cosine to the starred papers' centroid."""
    if len(star_vectors) == 0 or len(candidate_vectors) == 0:
        return np.zeros(len(candidate_vectors))
    centroid = star_vectors.mean(axis=0)
    centroid /= np.linalg.norm(centroid) or 1.0
    return np.asarray(candidate_vectors @ centroid, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A set of candidates ready to rank many times (one day's listing for every reader)."""

    ids: tuple[int, ...]
    has_vector: NDArray[np.bool_]  # per candidate
    vectors: NDArray[np.float32]  # the vectors of the candidates that have one, in order
    texts: CandidateTexts
    day_svm: DaySvm  # the same vectors for the SVM (its eigenbasis made on first use)

    @classmethod
    def of(cls, candidates: Sequence[Candidate], vectors: Mapping[int, NDArray[np.float32]]) -> Prepared:
        dim = next(iter(vectors.values())).shape[0] if vectors else 0
        has_vector = np.fromiter(
            (c.paper_id in vectors for c in candidates), dtype=bool, count=len(candidates)
        )
        rows = [vectors[c.paper_id] for c in candidates if c.paper_id in vectors]
        matrix = np.array(rows, dtype=np.float32).reshape(len(rows), dim)
        ids, texts = tuple(c.paper_id for c in candidates), CandidateTexts.of(candidates)
        return cls(ids, has_vector, matrix, texts, DaySvm.of(matrix))

    def rank(
        self,
        *,
        stars: Mapping[int, NDArray[np.float32]],
        keywords: Sequence[str],
        starred: Collection[int] = (),
    ) -> list[tuple[int, float]]:
        """(paper id, score) best first for a reader with these starred vectors; ties keep the order.

        `starred` adds starred papers that have no vector yet: they are not negatives either.
        """
        if not self.ids:
            return []
        starred = set(starred) | stars.keys()
        mask = np.fromiter((pid in starred for pid in self.ids), dtype=bool, count=len(self.ids))
        blended = self._similarity(stars, mask) + KEYWORD_WEIGHT * self.texts.keyword_scores(keywords)
        score = np.round(np.nan_to_num(blended, nan=0.0, posinf=0.0, neginf=0.0), 6)  # a broken vector
        order = np.argsort(-score, kind="stable")  # stable: ties keep the arXiv order
        values = score.tolist()
        return [(self.ids[i], values[i]) for i in order.tolist()]

    def _similarity(
        self, stars: Mapping[int, NDArray[np.float32]], starred: NDArray[np.bool_]
    ) -> NDArray[np.float64]:
        """Per candidate: centroid cosine, or (from SVM_MIN_STARS stars) a linear SVM's margin."""
        dim = self.vectors.shape[1]
        star_matrix = np.array([v for v in stars.values() if v.shape[0] == dim], dtype=np.float32)
        sim = np.zeros(len(self.ids))
        if not dim or not len(star_matrix):
            return sim
        with _one_blas_thread():  # small products: threads only oversubscribe a busy web process
            if len(star_matrix) < SVM_MIN_STARS or (starred | ~self.has_vector).all():
                sim[self.has_vector] = centroid_scores(self.vectors, star_matrix)
            else:
                starred_rows = np.flatnonzero(starred[self.has_vector])
                margins = self.day_svm.margins(star_matrix, starred_rows)
                sim[self.has_vector] = np.tanh(margins)  # squashed to the cosine's range for blending
        return sim


@cache
def _blas() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _one_blas_thread() -> Any:
    return _blas().limit(limits=1, user_api="blas")


def rank_for_you(
    candidates: Sequence[Candidate],
    *,
    vectors: Mapping[int, NDArray[np.float32]],
    starred: Sequence[int],
    keywords: Sequence[str],
) -> list[tuple[int, float]]:
    """(paper id, score) best first; ties keep the given (arXiv) order."""
    stars = {pid: vectors[pid] for pid in starred if pid in vectors}
    return Prepared.of(candidates, vectors).rank(stars=stars, keywords=keywords, starred=starred)


def rank_popular(paper_ids: Sequence[int], counts: dict[int, dict[str, int]]) -> list[int]:
    """Most opened (FAQ + PDF) first; ties keep the given order."""
    total = {pid: sum(counts.get(pid, {}).values()) for pid in paper_ids}
    return sorted(paper_ids, key=lambda pid: -total[pid])
