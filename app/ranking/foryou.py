"""Ranking from the database: gather a listing's texts and vectors, then rank them."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from cachetools import LRUCache, cached
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.ranking.rank import Candidate, Prepared, Signals, keyword_terms, rank_for_you, rank_popular
from app.store.counters import counter_totals
from app.store.embeddings import vectors_for
from app.store.models import Embedding, Paper

SORTS = ("arxiv", "popular", "time", "foryou")


def rank_papers(
    session: Session, papers: Sequence[Paper], *, model: str, starred: Sequence[int], keywords: Sequence[str]
) -> list[tuple[Paper, float]]:
    """`papers` best first for a reader with these starred paper ids and preferred keywords."""
    by_id = {p.id: p for p in papers}
    candidates = [Candidate(p.id, p.title, p.abstract, p.authors) for p in papers]
    vectors = vectors_for(session, paper_ids=list({*by_id, *starred}), model=model) if starred else {}
    ranked = rank_for_you(candidates, vectors=vectors, starred=starred, keywords=keywords)
    return [(by_id[r.paper_id], r.score) for r in ranked]


@dataclass(frozen=True, slots=True)
class Reader:
    """A reader's signals as the API receives them (arXiv ids and words)."""

    stars: Sequence[str] = ()
    dismissed: Sequence[str] = ()
    keywords: Sequence[str] = ()
    negative_keywords: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class Pick:
    arxiv_id: str
    score: float
    why: tuple[str, str] | None  # (arXiv id, title) of the starred paper it is closest to
    keyword: str | None


@dataclass(frozen=True, slots=True)
class ForYou:
    picks: list[Pick]
    personalised: bool  # False: nothing the reader sent is usable, the order is the given one
    note: str | None  # why not, for the page to show


def rank_arxiv_ids(session: Session, arxiv_ids: Sequence[str], *, model: str, reader: Reader) -> ForYou:
    """The known ones of `arxiv_ids` best first, for this reader.

    Every reader of a day sends the same ids: the candidates' texts and vectors are prepared once
    (see `_prepared`), and a request reads only its starred and dismissed papers' vectors.
    """
    wanted = tuple(dict.fromkeys(arxiv_ids))
    prepared, arxiv_of = _prepared(session, wanted, model=model)
    labelled = list(dict.fromkeys([*reader.stars, *reader.dismissed]))
    found = select(Paper.id, Paper.arxiv_id, Paper.title, Paper.abstract).where(Paper.arxiv_id.in_(labelled))
    known = {row.arxiv_id: row for row in session.execute(found)} if labelled else {}
    vectors = vectors_for(session, paper_ids=[r.id for r in known.values()], model=model) if known else {}
    star_ids = [known[a].id for a in reader.stars if a in known]
    dismissed_ids = [known[a].id for a in reader.dismissed if a in known and a not in reader.stars]
    signals = Signals(
        stars={pid: vectors[pid] for pid in star_ids if pid in vectors},
        dismissals={pid: vectors[pid] for pid in dismissed_ids if pid in vectors},
        keywords=reader.keywords,
        negative_keywords=reader.negative_keywords,
        starred=star_ids,
        dismissed=dismissed_ids,
        star_texts={known[a].id: f"{known[a].title} {known[a].abstract}" for a in reader.stars if a in known},
    )
    titles = {r.id: (r.arxiv_id, r.title) for r in known.values()}
    picks = [
        Pick(arxiv_of[r.paper_id], r.score, titles[r.why] if r.why is not None else None, r.keyword)
        for r in prepared.rank(signals)
    ]
    note = _no_signal(signals, prepared, reader)
    return ForYou(picks, note is None, note)


def _no_signal(signals: Signals, prepared: Prepared, reader: Reader) -> str | None:
    """Why the order cannot be personal (None when it is): nothing usable was sent."""
    moved = set(signals.starred) | set(signals.dismissed)
    if signals.stars or signals.dismissals or any(pid in moved for pid in prepared.ids):
        return None
    if keyword_terms(signals.keywords) or keyword_terms(signals.negative_keywords):
        return None
    if reader.stars or reader.dismissed:
        return "none of the starred or dismissed papers is known here yet: the order is unchanged"
    return "no stars, dismissals or keywords yet: the order is unchanged"


@dataclass(slots=True)
class _Entry:
    prepared: Prepared
    arxiv_of: dict[int, str]


# Days (or id sets) kept ready, counted in papers: ~7 KB each with vectors, texts and TF-IDF (3 KB
# more once the SVM's eigenbasis is made). Eight days kept whatever their size let thirty 4,000-paper
# sets, each its own, take a web process past 1 GB; with 12,000 or 10,000 papers kept it peaked at
# 640-760 and 605-627 MB, with 6,000 at 555-568 MB (benchmarks/abuse.py). That is one 5,000-paper
# day, or six of 1,000. A set past the cap is ranked, not kept.
PREPARED_PAPERS = 6_000
_ready: LRUCache[tuple[object, ...], _Entry] = LRUCache(
    PREPARED_PAPERS, getsizeof=lambda entry: max(1, len(entry.prepared.ids))
)
# One build per key at a time, the others wait for it (cachetools' `condition`): thirty readers of a new
# 5,000-paper day at once each built it, and a web process went past 800 MB (benchmarks/abuse.py).
_building = threading.Condition()


def _prepared(session: Session, arxiv_ids: tuple[str, ...], *, model: str) -> tuple[Prepared, dict[int, str]]:
    """The candidates ready to rank, reused while none changed and no vector was added or dropped."""
    stamp = _stamp(session, arxiv_ids, model=model)  # one aggregate: cheap beside preparing the day
    entry = _build(session, arxiv_ids, model=model, stamp=stamp)
    return entry.prepared, entry.arxiv_of


def _build_key(
    _: Session, arxiv_ids: tuple[str, ...], *, model: str, stamp: tuple[object, ...]
) -> tuple[object, ...]:
    return (model, arxiv_ids, stamp)


@cached(_ready, key=_build_key, condition=_building)
def _build(session: Session, arxiv_ids: tuple[str, ...], *, model: str, stamp: tuple[object, ...]) -> _Entry:
    columns = (Paper.id, Paper.arxiv_id, Paper.title, Paper.abstract, Paper.authors)
    found = {
        row.arxiv_id: row for row in session.execute(select(*columns).where(Paper.arxiv_id.in_(arxiv_ids)))
    }
    rows = [found[a] for a in arxiv_ids if a in found]
    candidates = [Candidate(r.id, r.title, r.abstract, r.authors) for r in rows]
    vectors = vectors_for(session, paper_ids=[r.id for r in rows], model=model)
    return _Entry(Prepared.of(candidates, vectors), {r.id: r.arxiv_id for r in rows})


def _stamp(session: Session, arxiv_ids: tuple[str, ...], *, model: str) -> tuple[object, ...]:
    # Papers found, their revisions (a new text) and ingestion times, and how many have a vector.
    row = session.execute(
        select(
            func.count(Paper.id),
            func.coalesce(func.sum(Paper.revision), 0),
            func.max(Paper.ingested_at),
            func.count(Embedding.paper_id),  # NULL (no vector) is not counted
        )
        .select_from(Paper)
        .outerjoin(Embedding, (Embedding.paper_id == Paper.id) & (Embedding.model == model))
        .where(Paper.arxiv_id.in_(arxiv_ids))
    ).one()
    return tuple(row)


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
