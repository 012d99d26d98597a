"""Rank papers for a reader: by popularity, by publish time, or "for you" (stars and keywords).

"For you" follows arxiv-sanity: with few starred papers, cosine similarity to their centroid; with
five or more, a linear SVM separating them from the rest of the candidates. Papers the reader
dismissed ("not interested") are the SVM's weighted negatives, or, below five stars, a penalty by
similarity to their centroid. On a day of 50 or more candidates, feedback from that first order
follows (pseudo-relevance feedback from its top 10, the stars' walk on the day's neighbour graph).
Keywords the reader prefers add to that score, negative keywords take
from it. Starred and dismissed papers are never on top: they come after all others (dismissed
last). Each pick says why: the starred paper it is closest to, and the first keyword it mentions.
The reader's signals come with the request: nothing is kept.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from app.ranking.graph import DayGraph
from app.ranking.lexical import DayTerms
from app.ranking.svm import DaySvm

SVM_MIN_STARS = 5
KEYWORD_WEIGHT = 0.5  # a keyword in the title moves a paper about as much as a close neighbour does
# A negative keyword in the title takes a paper below nearly every other (cosines and squashed SVM
# margins span about 1); in the abstract only, half that.
NEGATIVE_KEYWORD_WEIGHT = 1.0
# Below SVM_MIN_STARS, the cosine to the dismissed papers' centroid is taken off at this weight.
# benchmarks/foryou.py's simulated readers gained nothing measurable from dismissals beyond the
# dismissed papers themselves (-0.01..+0.01 in precision@20 for weights 0.25-0.5; 1.0 cost 0.19 with
# 3 stars): kept small, so that a dismissal sinks its near duplicates without sinking the topic.
DISMISSED_CENTROID_WEIGHT = 0.25
DISMISSED_SVM_MAX = 300  # the latest dismissals the SVM takes (each adds a row to its small system)
# The TF-IDF centroid cosine's share of the similarity, at equal spreads (benchmarks/foryou.py).
LEXICAL_WEIGHT = 0.5
# Feedback, once the stars have ranked the day (benchmarks/foryou.py, 240 simulated readers: +0.012
# precision@20 together; on readers drawn with another seed +0.003, and dismissals' lift doubled):
# - pseudo-relevance feedback (Rocchio): the closeness, in vectors and in TF-IDF, to the centroid of the
#   FEEDBACK_TOP best unlabelled picks, which say what the stars have in common better than 3 stars do;
# - the stars spread along the day's nearest-neighbour graph (app.ranking.graph), which follows a
#   topic that no single direction separates; its square root, for the walk's mass sits on few papers.
# Each is brought to the similarity's spread (a z-score times these weights).
FEEDBACK_TOP = 10
# Below this many unlabelled candidates with a vector, no feedback: the top would be much of the day.
FEEDBACK_MIN_CANDIDATES = 5 * FEEDBACK_TOP
FEEDBACK_WEIGHT = 0.5
FEEDBACK_LEXICAL_WEIGHT = 0.3
GRAPH_WEIGHT = 0.3
WHY_MIN_COSINE = 0.3  # a starred paper less similar does not explain a pick (unrelated text: ~0-0.2)
WHY_TOP = 500  # picks explained; the rest of a long day is rarely read (and each costs a product)


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
        terms, hits = self.keyword_hits(keywords)
        if not terms:
            return np.zeros(self.titles.rows)
        return np.asarray(hits.sum(axis=0) / (2.0 * len(terms)), dtype=np.float64)

    def keyword_hits(self, keywords: Sequence[str]) -> tuple[list[str], NDArray[np.float64]]:
        """The distinct terms, and per term and row: 2 for a title hit, 1 for one elsewhere, else 0."""
        terms = keyword_terms(keywords)
        hits = np.zeros((len(terms), self.titles.rows))
        if not self.titles.rows:
            return terms, hits
        for i, term in enumerate(terms):
            in_title = self.titles.rows_mentioning(term)
            in_rest = self.rests.rows_mentioning(term) & ~in_title
            hits[i] = 2.0 * in_title + in_rest
        return terms, hits


class _Joined:
    """Texts lowered as one string, with where each starts, to map a match back to its row."""

    def __init__(self, texts: list[str]) -> None:
        # Lowered one by one: str.lower of one big non-ASCII text allocates 12 bytes a character
        # (~75 MB for a 5,000-paper day's abstracts). The same result: no case rule crosses a NUL.
        text = "\x00".join(t.lower() for t in texts)
        if text.count("\x00") != len(texts) - 1:  # stored text holds no NUL (the parser drops them)
            text = "\x00".join(t.lower().replace("\x00", " ") for t in texts)
        self.text = text
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


Vectors = Mapping[int, NDArray[np.float32]]


@dataclass(frozen=True, slots=True)
class Signals:
    """What a reader tells "for you": starred and dismissed papers (their vectors where known; `starred`
    and `dismissed` add those without a vector yet) and preferred and unwanted keywords."""

    stars: Vectors = field(default_factory=dict)
    dismissals: Vectors = field(default_factory=dict)
    keywords: Sequence[str] = ()
    negative_keywords: Sequence[str] = ()
    starred: Collection[int] = ()
    dismissed: Collection[int] = ()
    star_texts: Mapping[int, str] = field(default_factory=dict)  # title and abstract, for TF-IDF


class Ranked(NamedTuple):
    paper_id: int
    score: float
    why: int | None  # the starred paper (id) the pick is closest to, if close enough to explain it
    keyword: str | None  # the first of the reader's keywords it mentions


@dataclass(frozen=True, slots=True)
class Prepared:
    """A set of candidates ready to rank many times (one day's listing for every reader)."""

    ids: tuple[int, ...]
    has_vector: NDArray[np.bool_]  # per candidate
    vectors: NDArray[np.float32]  # the vectors of the candidates that have one, in order
    texts: CandidateTexts
    day_svm: DaySvm  # the same vectors for the SVM (its eigenbasis made on first use)
    terms: DayTerms  # the candidates' TF-IDF (fitted on first use)
    graph: DayGraph  # the candidates' nearest-neighbour graph (built on first use)

    @classmethod
    def of(cls, candidates: Sequence[Candidate], vectors: Mapping[int, NDArray[np.float32]]) -> Prepared:
        dim = next(iter(vectors.values())).shape[0] if vectors else 0
        has_vector = np.fromiter(
            (c.paper_id in vectors for c in candidates), dtype=bool, count=len(candidates)
        )
        rows = [vectors[c.paper_id] for c in candidates if c.paper_id in vectors]
        matrix = np.array(rows, dtype=np.float32).reshape(len(rows), dim)
        ids, texts = tuple(c.paper_id for c in candidates), CandidateTexts.of(candidates)
        terms = DayTerms([f"{c.title} {c.abstract}" for c in candidates])
        return cls(ids, has_vector, matrix, texts, DaySvm.of(matrix), terms, DayGraph(matrix))

    def rank(self, signals: Signals) -> list[Ranked]:
        """Best first: the other papers by score, then the starred, then the dismissed (each group by
        score); ties keep the given (arXiv) order."""
        if not self.ids:
            return []
        starred = set(signals.starred) | signals.stars.keys()
        dismissed = (set(signals.dismissed) | signals.dismissals.keys()) - starred
        is_starred = np.fromiter((pid in starred for pid in self.ids), dtype=bool, count=len(self.ids))
        is_dismissed = np.fromiter((pid in dismissed for pid in self.ids), dtype=bool, count=len(self.ids))
        stars, dismissals = self._matrix(signals.stars), self._matrix(signals.dismissals)
        terms, hits = self.texts.keyword_hits(signals.keywords)
        blended = self._similarity(stars, dismissals, is_starred, is_dismissed)
        blended += self._lexical(blended, is_starred, signals)
        blended += self._feedback(blended, stars, is_starred | is_dismissed)
        if terms:
            blended += KEYWORD_WEIGHT * hits.sum(axis=0) / (2.0 * len(terms))
        _, unwanted = self.texts.keyword_hits(signals.negative_keywords)
        if len(unwanted):
            blended -= NEGATIVE_KEYWORD_WEIGHT * np.minimum(unwanted.sum(axis=0) / 2.0, 1.0)
        score = np.round(np.nan_to_num(blended, nan=0.0, posinf=0.0, neginf=0.0), 6)  # a broken vector
        group = is_starred.astype(np.int8) + 2 * is_dismissed.astype(np.int8)
        order = np.lexsort((np.arange(len(score)), -score, group))  # group, then score, then given order
        why = self._why(order, stars, ~(is_starred | is_dismissed), signals.stars)
        first_term = _first_term(terms, hits)
        values = score.tolist()
        return [
            Ranked(self.ids[i], values[i], why.get(i), first_term[i] if first_term else None)
            for i in order.tolist()
        ]

    def _matrix(self, vectors: Vectors) -> NDArray[np.float32]:
        dim = self.vectors.shape[1]
        rows = [v for v in vectors.values() if v.shape[0] == dim] if dim else []
        return np.array(rows, dtype=np.float32).reshape(len(rows), dim)

    def _similarity(
        self,
        stars: NDArray[np.float32],
        dismissals: NDArray[np.float32],
        starred: NDArray[np.bool_],
        dismissed: NDArray[np.bool_],
    ) -> NDArray[np.float64]:
        """Per candidate: centroid cosine less the dismissed centroid's, or (from SVM_MIN_STARS stars)
        a linear SVM's margin with the dismissed papers as weighted negatives."""
        sim = np.zeros(len(self.ids))
        if not self.vectors.shape[1] or not (len(stars) or len(dismissals)):
            return sim
        labelled = (starred | dismissed)[self.has_vector]
        with _one_blas_thread():  # small products: threads only oversubscribe a busy web process
            if len(stars) < SVM_MIN_STARS or labelled.all():
                near = centroid_scores(self.vectors, stars)
                far = centroid_scores(self.vectors, dismissals)
                sim[self.has_vector] = near - DISMISSED_CENTROID_WEIGHT * far
            else:
                margins = self.day_svm.margins(
                    stars,
                    np.flatnonzero(starred[self.has_vector]),
                    dismissed=dismissals[-DISMISSED_SVM_MAX:],
                    dismissed_rows=np.flatnonzero(dismissed[self.has_vector]),
                )
                sim[self.has_vector] = np.tanh(margins)  # squashed to the cosine's range for blending
        return sim

    def _lexical(
        self, similarity: NDArray[np.float64], starred: NDArray[np.bool_], signals: Signals
    ) -> NDArray[np.float64] | float:
        """LEXICAL_WEIGHT times the TF-IDF centroid cosine, brought to the similarity's spread (so that
        the blend is the benchmarked one whatever the day, and keyword weights keep their meaning)."""
        if not signals.stars:
            return 0.0
        rows = np.flatnonzero(starred).tolist()
        inside = {self.ids[i] for i in rows}
        others = [text for pid, text in signals.star_texts.items() if pid not in inside]
        lexical = self.terms.centroid_scores(rows, others)
        if lexical is None or not lexical.std() or not similarity.std():
            return 0.0
        spread = float(similarity.std() / lexical.std())
        return np.asarray(LEXICAL_WEIGHT * spread * (lexical - lexical.mean()), dtype=np.float64)

    def _feedback(
        self, blended: NDArray[np.float64], stars: NDArray[np.float32], labelled: NDArray[np.bool_]
    ) -> NDArray[np.float64] | float:
        """Pseudo-relevance feedback and the stars' walk on the day's graph (see FEEDBACK_TOP), at
        the blend's spread; nothing without a starred vector, nor on a small day."""
        spread = float(blended.std())
        pickable = ~labelled & self.has_vector
        if not len(stars) or not spread or int(pickable.sum()) < FEEDBACK_MIN_CANDIDATES:
            return 0.0
        vector_row = np.cumsum(self.has_vector) - 1  # candidate row -> row in self.vectors
        top = [i for i in np.argsort(-blended, kind="stable").tolist() if pickable[i]][:FEEDBACK_TOP]
        extra = np.zeros(len(self.ids))
        with _one_blas_thread():
            if top:
                centre = self.vectors[vector_row[top]].mean(axis=0)
                centre /= np.linalg.norm(centre) or 1.0
                near = np.zeros(len(self.ids))
                near[self.has_vector] = self.vectors @ centre
                extra += FEEDBACK_WEIGHT * _standard(near)
                lexical = self.terms.centroid_scores(top, [])
                if lexical is not None:
                    extra += FEEDBACK_LEXICAL_WEIGHT * _standard(lexical)
            # Each star seeds the walk at its nearest candidate: itself when it is one of the day's.
            seeds = (stars @ self.vectors.T).argmax(axis=1)
        walked = np.zeros(len(self.ids))
        walked[self.has_vector] = np.sqrt(np.maximum(self.graph.spread(seeds.tolist()), 0.0))
        extra += GRAPH_WEIGHT * _standard(walked)
        return spread * extra

    def _why(
        self, order: NDArray[np.intp], stars: NDArray[np.float32], pickable: NDArray[np.bool_], ids: Vectors
    ) -> dict[int, int]:
        """Candidate row -> the starred paper it is closest to, for the first WHY_TOP picks that are
        close enough (WHY_MIN_COSINE) to one; starred and dismissed papers are no picks."""
        if not len(stars):
            return {}
        star_ids = [pid for pid, v in ids.items() if v.shape[0] == self.vectors.shape[1]]
        vector_row = np.cumsum(self.has_vector) - 1  # candidate row -> row in self.vectors
        rows = np.array(
            [i for i in order[:WHY_TOP].tolist() if pickable[i] and self.has_vector[i]], dtype=np.intp
        )
        if not len(rows):
            return {}
        with _one_blas_thread():
            cosines = self.vectors[vector_row[rows]] @ stars.T
        nearest = cosines.argmax(axis=1)
        best = cosines[np.arange(len(rows)), nearest]
        return {
            int(row): star_ids[int(j)]
            for row, j, cos in zip(rows.tolist(), nearest.tolist(), best.tolist(), strict=True)
            if cos >= WHY_MIN_COSINE
        }


def _standard(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Zero mean, unit spread (all zeros for a constant)."""
    spread = float(values.std())
    return (values - values.mean()) / spread if spread else np.zeros(len(values))


def _first_term(terms: Sequence[str], hits: NDArray[np.float64]) -> list[str | None]:
    """Per row, the first term with a hit (None where none); empty when there are no terms."""
    if not terms:
        return []
    found = hits > 0
    first: list[int] = found.argmax(axis=0).tolist()
    any_hit: list[bool] = np.asarray(found.any(axis=0)).tolist()
    return [terms[t] if hit else None for t, hit in zip(first, any_hit, strict=True)]


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
    dismissed: Sequence[int] = (),
    negative_keywords: Sequence[str] = (),
) -> list[Ranked]:
    """Best first (see `Prepared.rank`); `vectors` holds the candidates' and the labelled papers'."""
    signals = Signals(
        stars={pid: vectors[pid] for pid in starred if pid in vectors},
        dismissals={pid: vectors[pid] for pid in dismissed if pid in vectors},
        keywords=keywords,
        negative_keywords=negative_keywords,
        starred=starred,
        dismissed=dismissed,
    )
    return Prepared.of(candidates, vectors).rank(signals)


def rank_popular(paper_ids: Sequence[int], counts: dict[int, dict[str, int]]) -> list[int]:
    """Most opened (FAQ + PDF) first; ties keep the given order."""
    total = {pid: sum(counts.get(pid, {}).values()) for pid in paper_ids}
    return sorted(paper_ids, key=lambda pid: -total[pid])
