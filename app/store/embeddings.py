"""Embeddings: vectors stored as bytes per (paper, model). FAISS is rebuilt from these rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.store.models import Embedding, Paper
from app.store.upsert import dialect_insert


def papers_without_embedding(
    session: Session, *, model: str, limit: int, paper_ids: Sequence[int] | None = None
) -> list[tuple[int, str, str]]:
    """(id, title, abstract) of papers with no vector for `model`, newest first."""
    stmt = (
        select(Paper.id, Paper.title, Paper.abstract)
        .outerjoin(Embedding, (Embedding.paper_id == Paper.id) & (Embedding.model == model))
        .where(Embedding.paper_id.is_(None))
        .order_by(Paper.id.desc())
        .limit(limit)
    )
    if paper_ids is not None:
        stmt = stmt.where(Paper.id.in_(paper_ids))
    return [(pid, title, abstract) for pid, title, abstract in session.execute(stmt)]


def add_embeddings(session: Session, *, model: str, rows: Sequence[tuple[int, NDArray[np.float32]]]) -> None:
    if not rows:
        return
    # Written now, not at the transaction's start (PostgreSQL's now()): the index finds the vectors
    # written again under an old id by this time (app/search/index.py's update_index).
    now = dt.datetime.now(dt.UTC)
    values = [
        {"paper_id": pid, "model": model, "dim": int(vec.shape[0]), "vector": vec.astype("<f4").tobytes(),
         "created_at": now}
        for pid, vec in rows
    ]  # fmt: skip
    stmt = dialect_insert(session, Embedding)
    columns = ("vector", "dim", "created_at")
    stmt = stmt.on_conflict_do_update(
        index_elements=["paper_id", "model"], set_={c: getattr(stmt.excluded, c) for c in columns}
    )
    session.execute(stmt, values)
    session.flush()


def drop_embeddings(session: Session, *, paper_ids: Sequence[int]) -> None:
    """Forget vectors of papers whose text changed (a new version): they are embedded again."""
    if paper_ids:
        session.execute(delete(Embedding).where(Embedding.paper_id.in_(paper_ids)))


def vector_of(session: Session, *, paper_id: int, model: str) -> NDArray[np.float32] | None:
    raw = session.scalar(
        select(Embedding.vector).where(Embedding.paper_id == paper_id, Embedding.model == model)
    )
    return None if raw is None else np.frombuffer(raw, dtype="<f4").astype(np.float32)


def count_embeddings(session: Session, *, model: str) -> int:
    return session.scalar(select(func.count()).select_from(Embedding).where(Embedding.model == model)) or 0


def labelled_vectors(
    session: Session, *, model: str, limit: int
) -> tuple[NDArray[np.float32], NDArray[np.str_]]:
    """The vectors and primary categories of the newest `limit` embedded arXiv papers (app/search/fields.py)."""
    rows = session.execute(
        select(Embedding.vector, Paper.primary_category)
        .join(Paper, Paper.id == Embedding.paper_id)
        .where(Embedding.model == model, Paper.source == "arxiv", Paper.primary_category.is_not(None))
        .where(Paper.primary_category != "")
        .order_by(Embedding.paper_id.desc())
        .limit(limit)
    ).all()
    if not rows:
        return np.zeros((0, 0), dtype=np.float32), np.array([], dtype=str)
    vectors = np.frombuffer(b"".join(r[0] for r in rows), dtype="<f4").reshape(len(rows), -1)
    return vectors.astype(np.float32, copy=False), np.array([r[1] for r in rows], dtype=str)


def iter_vectors(
    session: Session, *, model: str, chunk: int = 50_000, after_id: int = 0
) -> Iterator[tuple[NDArray[np.int64], NDArray[np.float32]]]:
    """(ids, vectors) in paper-id order, a chunk at a time (keyset paging: constant memory per chunk)."""
    last = after_id
    while True:
        rows = session.execute(
            select(Embedding.paper_id, Embedding.vector)
            .where(Embedding.model == model, Embedding.paper_id > last)
            .order_by(Embedding.paper_id)
            .limit(chunk)
        ).all()
        if not rows:
            return
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1)
        yield ids, vectors.astype(np.float32, copy=False)
        last = int(ids[-1])


def embedded_ids(session: Session, *, model: str) -> NDArray[np.int64]:
    """The ids of the papers with a vector for `model`, ascending (8 bytes each: 24 MB for 3M)."""
    stmt = select(Embedding.paper_id).where(Embedding.model == model).order_by(Embedding.paper_id)
    return np.fromiter(session.scalars(stmt.execution_options(yield_per=100_000)), dtype=np.int64)


def count_missing(session: Session, *, model: str) -> int:
    """Papers without a vector for `model`."""
    papers = session.scalar(select(func.count()).select_from(Paper)) or 0
    return max(papers - count_embeddings(session, model=model), 0)


def replaced_ids(session: Session, *, model: str, up_to_id: int, since: dt.datetime) -> list[int]:
    """Papers up to `up_to_id` whose vector was written since `since`: embedded again under their id
    (a new version's), which an index reading only ids past its last misses."""
    query = select(Embedding.paper_id).where(
        Embedding.model == model, Embedding.paper_id <= up_to_id, Embedding.created_at >= since
    )
    return list(session.scalars(query.order_by(Embedding.paper_id)))


def vectors_for(session: Session, *, paper_ids: Sequence[int], model: str) -> dict[int, NDArray[np.float32]]:
    """The stored vectors of these papers (those that have one)."""
    out: dict[int, NDArray[np.float32]] = {}
    for start in range(0, len(paper_ids), 1000):
        rows = session.execute(
            select(Embedding.paper_id, Embedding.vector).where(
                Embedding.model == model, Embedding.paper_id.in_(paper_ids[start : start + 1000])
            )
        )
        # Read-only views of the stored bytes: little-endian float32 is float32 here, nothing to copy.
        out.update({pid: np.frombuffer(raw, dtype="<f4").astype(np.float32, copy=False) for pid, raw in rows})
    return out
