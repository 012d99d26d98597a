"""Hybrid search: full-text and vector kNN fused by reciprocal rank fusion; related papers."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from cachetools import LRUCache
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, String, and_, cast, or_, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.search.embed import paper_text
from app.search.embedder import Embedder
from app.search.index import IndexHolder
from app.search.related import POOL as RELATED_POOL
from app.search.related import rerank_related
from app.store.embeddings import vector_of, vectors_for
from app.store.fts import author_search, fold_name, keyword_search, query_terms
from app.store.listings import CategoryQuery
from app.store.models import Paper
from app.store.venues import twin_ids, twins_of

Mode = Literal["hybrid", "keyword", "semantic"]
RRF_K = 60  # the constant of Cormack et al. (2009): damps the weight of the very first ranks
CANDIDATES = 200  # per method, before fusion and filters
FILTERED_CANDIDATES = 2000  # when filters may drop most neighbours
AUTHOR_CANDIDATES = 2000  # full-text matches of an author's name checked for the exact name
QUERY_VECTORS_MAX = 4096  # recent queries' vectors (1.5 KB each): popular queries skip the model
_query_vectors: LRUCache[tuple[str, str], NDArray[np.float32]] = LRUCache(QUERY_VECTORS_MAX)
_query_vectors_lock = threading.Lock()  # cachetools caches are not thread-safe


def query_vector(embedder: Embedder, query: str) -> NDArray[np.float32]:
    """The query's embedding, remembered for the next time someone asks the same."""
    key = (embedder.name, query)
    with _query_vectors_lock:
        vector = _query_vectors.get(key)
    if vector is None:
        vector = np.asarray(embedder.embed([query])[0], dtype=np.float32)
        vector.setflags(write=False)  # shared between requests
        with _query_vectors_lock:
            _query_vectors[key] = vector
    return vector


@dataclass(frozen=True, slots=True)
class SearchFilters:
    categories: CategoryQuery | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    # "arxiv", "venue" (every conference source) or one venue source ("openreview", "acl" ...)
    source: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.categories or self.date_from or self.date_to or self.source)


@dataclass(frozen=True, slots=True)
class Hit:
    paper: Paper
    score: float


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: list[Hit]
    total: int
    semantic: bool  # whether vectors took part (False: nothing embedded yet, or keyword mode)


def fuse(rankings: Sequence[Sequence[int]], *, k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: score(d) = sum over rankings of 1 / (k + rank of d)."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, pid in enumerate(ranking, start=1):
            scores[pid] = scores.get(pid, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], -item[0]))


class Searcher:
    """Search and related papers over one database session, one embedder and one index."""

    def __init__(self, session: Session, settings: Settings, embedder: Embedder, holder: IndexHolder):
        self.session = session
        self.settings = settings
        self.embedder = embedder
        self.holder = holder

    def search(
        self,
        query: str,
        *,
        mode: Mode = "hybrid",
        filters: SearchFilters = SearchFilters(),
        limit: int,
        offset: int,
        min_similarity: float | None = None,
    ) -> SearchResult:
        """`min_similarity`: vector neighbours less similar (cosine) are dropped, so a query that
        matches nothing ("zzzzqqq") finds nothing instead of the nearest 200 of anything."""
        if not query_terms(query):
            return SearchResult([], 0, semantic=False)
        pool = FILTERED_CANDIDATES if filters.active else CANDIDATES
        rankings: list[list[int]] = []
        scores: dict[int, float] = {}
        if mode in ("hybrid", "keyword"):
            found = keyword_search(self.session, query, limit=pool)
            rankings.append([pid for pid, _ in found])
            scores.update(found if mode == "keyword" else {})
        semantic = False
        if mode in ("hybrid", "semantic"):
            index = self.holder.get(model=self.embedder.name)
            if index is not None:
                found = index.search(query_vector(self.embedder, query), pool, exact=self._stored_vectors)
                if min_similarity is not None:
                    found = [(pid, score) for pid, score in found if score >= min_similarity]
                rankings.append([pid for pid, _ in found])
                scores.update(found if mode == "semantic" else {})
                semantic = True
        ranked = (
            fuse(rankings)
            if mode == "hybrid"
            else [(pid, scores[pid]) for pid in rankings[0]]
            if rankings
            else []
        )
        kept = self.filter_ids([pid for pid, _ in ranked], filters)
        kept -= twin_ids(self.session, list(kept))  # a venue paper whose arXiv version is shown too
        chosen = [(pid, score) for pid, score in ranked if pid in kept]
        return SearchResult(self._hits(chosen[offset : offset + limit]), len(chosen), semantic)

    def related(self, paper: Paper, *, k: int) -> list[Hit]:
        """Nearest papers by vector, the paper itself excluded; by its title's words when unembedded."""
        vector = vector_of(self.session, paper_id=paper.id, model=self.embedder.name)
        index = self.holder.get(model=self.embedder.name) if vector is not None else None
        if vector is not None and index is not None:
            pool = max(k + 4, RELATED_POOL)  # room for twins, and neighbours to re-rank
            found = index.search(vector, pool, exact=self._stored_vectors)
        else:
            found = keyword_search(self.session, _title_terms(paper), limit=k + 4, match_all=False)
        # The paper's other versions (arXiv / venue) are the same paper, and so are twins among the rest.
        skip = {paper.id} | twins_of(self.session, paper.id)
        found = [(pid, score) for pid, score in found if pid not in skip]
        if vector is not None and index is not None:
            found = self._reranked(paper, vector, found)
        twins = twin_ids(self.session, [pid for pid, _ in found])
        return self._hits([(pid, score) for pid, score in found if pid not in twins][:k])

    def _reranked(
        self, paper: Paper, vector: NDArray[np.float32], found: list[tuple[int, float]]
    ) -> list[tuple[int, float]]:
        ids = [pid for pid, _ in found]
        rows = self.session.execute(select(Paper.id, Paper.authors).where(Paper.id.in_(ids)))
        authors_of: dict[int, list[str]] = {pid: authors or [] for pid, authors in rows}
        vectors = self._stored_vectors(ids)
        return rerank_related(
            vector,
            found,
            vectors=vectors,
            authors=paper.authors or (),
            authors_of=authors_of,
            fields=self.holder.fields(model=self.embedder.name),
        )

    def _stored_vectors(self, paper_ids: Sequence[int]) -> dict[int, NDArray[np.float32]]:
        """The exact vectors an IVF-PQ index re-ranks its candidates with, read in this session."""
        return vectors_for(self.session, paper_ids=paper_ids, model=self.embedder.name)

    def by_author(self, author: str, *, filters: SearchFilters, limit: int, offset: int) -> SearchResult:
        """Papers that list exactly `author` (case and diacritics aside), newest first: the words narrow
        by full text, the name decides, so "Wei Wang" never brings every Wei and every Wang."""
        found = author_search(self.session, author, limit=AUTHOR_CANDIDATES)
        wanted = fold_name(author)
        papers = self.session.scalars(select(Paper).where(Paper.id.in_(found)))
        matched = [p for p in papers if any(fold_name(name) == wanted for name in p.authors or ())]
        kept = self.filter_ids([p.id for p in matched], filters)
        matched = [p for p in matched if p.id in kept]
        matched.sort(key=lambda p: (p.published_at is not None, p.published_at, p.arxiv_id), reverse=True)
        return SearchResult(
            [Hit(p, 1.0) for p in matched[offset : offset + limit]], len(matched), semantic=False
        )

    def filter_ids(self, ids: list[int], filters: SearchFilters) -> set[int]:
        """The papers among `ids` that pass `filters` (also for a list found another way: an author's)."""
        if not filters.active or not ids:
            return set(ids)
        conditions: list[ColumnElement[bool]] = [Paper.id.in_(ids)]
        if filters.categories is not None:
            conditions.append(_in_categories(filters.categories))
        if filters.date_from is not None:
            conditions.append(Paper.published_at >= dt.datetime.combine(filters.date_from, dt.time(), dt.UTC))
        if filters.date_to is not None and filters.date_to < dt.date.max:  # the last date bounds nothing
            end = dt.datetime.combine(filters.date_to + dt.timedelta(days=1), dt.time(), dt.UTC)
            conditions.append(Paper.published_at < end)
        if filters.source == "venue":
            conditions.append(Paper.source != "arxiv")
        elif filters.source is not None:
            conditions.append(Paper.source == filters.source)
        return set(self.session.scalars(select(Paper.id).where(and_(*conditions))))

    def _hits(self, ranked: list[tuple[int, float]]) -> list[Hit]:
        papers = {
            p.id: p
            for p in self.session.scalars(select(Paper).where(Paper.id.in_([pid for pid, _ in ranked])))
        }
        return [Hit(papers[pid], score) for pid, score in ranked if pid in papers]


def _in_categories(query: CategoryQuery) -> ColumnElement[bool]:
    # categories is a JSON list: match its serialised form, `"cs.AI"` exactly or `"cs.` for an archive.
    as_text = cast(Paper.categories, String)
    include = or_(*[as_text.like(f'%"{c}"%' if "." in c else f'%"{c}.%') for c in query.include])
    if not query.exclude:
        return include
    exclude = or_(*[as_text.like(f'%"{c}"%' if "." in c else f'%"{c}.%') for c in query.exclude])
    return and_(include, ~exclude)


def _title_terms(paper: Paper) -> str:
    """A keyword query from a paper's title: its longer words, any of which may match."""
    return " ".join(w for w in query_terms(paper.title) if len(w) > 3)


__all__ = ["Hit", "Mode", "SearchFilters", "SearchResult", "Searcher", "fuse", "paper_text"]
