"""Rank papers for a reader: by popularity, by publish time, or "for you" (stars and keywords).

"For you" follows arxiv-sanity: with few starred papers, cosine similarity to their centroid; with
five or more, a linear SVM separating them from the rest of the candidates. Keywords the reader
prefers add to that score. The reader's stars and keywords come with the request: nothing is kept.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

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
    terms = [k.strip().lower() for k in keywords if k.strip()]
    if not terms:
        return np.zeros(len(candidates))
    patterns = [(term, re.compile(rf"(?<!\w){re.escape(term)}(?!\w)")) for term in terms]
    scores = np.zeros(len(candidates))
    for row, cand in enumerate(candidates):
        title, rest = cand.title.lower(), f"{cand.abstract} {' '.join(cand.authors)}".lower()
        scores[row] = sum(_hit(term, pattern, title, rest) for term, pattern in patterns)
    return scores / (2.0 * len(patterns))


def _hit(term: str, pattern: re.Pattern[str], title: str, rest: str) -> float:
    # A plain substring test first: most papers lack most terms, and it is far cheaper than the regex.
    if term in title and pattern.search(title):
        return 2.0
    return 1.0 if term in rest and pattern.search(rest) else 0.0


def similarity_scores(
    candidate_vectors: NDArray[np.float32], star_vectors: NDArray[np.float32], starred_mask: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """Per candidate, roughly in [-1, 1]: centroid cosine, or an SVM margin once there are enough stars."""
    if len(star_vectors) == 0 or len(candidate_vectors) == 0:
        return np.zeros(len(candidate_vectors))
    if len(star_vectors) < SVM_MIN_STARS or starred_mask.all():
        centroid = star_vectors.mean(axis=0)
        centroid /= np.linalg.norm(centroid) or 1.0
        return np.asarray(candidate_vectors @ centroid, dtype=np.float64)
    from sklearn.svm import LinearSVC

    negatives = candidate_vectors[~starred_mask]
    features = np.vstack([star_vectors, negatives])
    labels = np.concatenate([np.ones(len(star_vectors)), np.zeros(len(negatives))])
    svm = LinearSVC(class_weight="balanced", C=0.1, tol=1e-3, max_iter=2000)
    svm.fit(features, labels)
    margins = svm.decision_function(candidate_vectors)
    return np.asarray(np.tanh(margins), dtype=np.float64)  # squashed to the cosine's range for blending


def rank_for_you(
    candidates: Sequence[Candidate],
    *,
    vectors: dict[int, NDArray[np.float32]],
    starred: Sequence[int],
    keywords: Sequence[str],
) -> list[tuple[int, float]]:
    """(paper id, score) best first; ties keep the given (arXiv) order."""
    if not candidates:
        return []
    dim = next(iter(vectors.values())).shape[0] if vectors else 0
    matrix = np.zeros((len(candidates), dim), dtype=np.float32)
    has_vector = np.zeros(len(candidates), dtype=bool)
    for row, cand in enumerate(candidates):
        if cand.paper_id in vectors:
            matrix[row], has_vector[row] = vectors[cand.paper_id], True
    stars = np.array([vectors[s] for s in starred if s in vectors], dtype=np.float32).reshape(-1, max(dim, 1))
    starred_set = set(starred)
    mask = np.array([c.paper_id in starred_set for c in candidates])
    sim = similarity_scores(matrix, stars, mask) * has_vector
    score = sim + KEYWORD_WEIGHT * keyword_scores(candidates, keywords)
    order = sorted(range(len(candidates)), key=lambda i: (-score[i], i))
    return [(candidates[i].paper_id, float(round(score[i], 6))) for i in order]


def rank_popular(paper_ids: Sequence[int], counts: dict[int, dict[str, int]]) -> list[int]:
    """Most opened (FAQ + PDF) first; ties keep the given order."""
    total = {pid: sum(counts.get(pid, {}).values()) for pid in paper_ids}
    return sorted(paper_ids, key=lambda pid: -total[pid])
