"""Ranking from the database: gather a listing's texts and vectors, then rank them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from app.ranking.rank import Candidate, rank_for_you, rank_popular
from app.store.counters import counter_totals
from app.store.embeddings import vectors_for
from app.store.models import Paper

SORTS = ("arxiv", "popular", "time", "foryou")


def rank_papers(
    session: Session, papers: Sequence[Paper], *, model: str, starred: Sequence[int], keywords: Sequence[str]
) -> list[tuple[Paper, float]]:
    """`papers` best first for a reader with these starred paper ids and preferred keywords."""
    by_id = {p.id: p for p in papers}
    vectors = vectors_for(session, paper_ids=list({*by_id, *starred}), model=model) if starred else {}
    candidates = [Candidate(p.id, p.title, p.abstract, p.authors) for p in papers]
    ranked = rank_for_you(candidates, vectors=vectors, starred=starred, keywords=keywords)
    return [(by_id[pid], score) for pid, score in ranked]


def sort_papers(session: Session, papers: Sequence[Paper], *, sort: str, model: str) -> list[Paper]:
    """A listing in the order `?sort=` asks: arxiv | popular | time, or comma-separated keywords.

    "foryou" needs the reader's stars, which stay in the browser: the page sorts itself through
    POST /api/v1/rank, so the server keeps arXiv order here.
    """
    if sort in ("", "arxiv", "foryou"):
        return list(papers)
    if sort == "popular":
        order = rank_popular([p.id for p in papers], counter_totals(session, [p.id for p in papers]))
        by_id = {p.id: p for p in papers}
        return [by_id[pid] for pid in order]
    if sort == "time":
        return sorted(
            papers, key=lambda p: p.published_at.timestamp() if p.published_at else 0.0, reverse=True
        )
    keywords = [k for k in sort.split(",") if k.strip()][:20]
    return [paper for paper, _ in rank_papers(session, papers, model=model, starred=(), keywords=keywords)]
