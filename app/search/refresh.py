"""After an ingest: embed what has no vector yet, then bring the index up to date."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.config import Settings
from app.search.embed import EmbedRun, embed_missing, get_embedder
from app.search.embedder import Embedder
from app.search.fields import refresh_fields
from app.search.index import IndexMeta, index_dir, rebuild_index, update_index
from app.store.db import session_scope
from app.store.embeddings import count_missing

COMMIT_EVERY = 512  # papers per transaction: a crash loses at most this much work


@dataclass(frozen=True, slots=True)
class RefreshReport:
    embedded: int
    remaining: int
    index: IndexMeta | None

    def summary(self) -> str:
        index = f"index: {self.index.count} vectors ({self.index.kind})" if self.index else "index: empty"
        return f"{self.embedded} papers embedded, {self.remaining} left; {index}"


def embed_and_index(
    settings: Settings,
    *,
    paper_ids: Sequence[int] | None = None,
    embedder: Embedder | None = None,
    progress: Callable[[int], Any] | None = None,
) -> RefreshReport:
    """Embed missing papers (all, or those of `paper_ids`) in committed batches, then update the index."""
    embedder = embedder or get_embedder(settings)
    total = 0
    while True:
        with session_scope(settings) as session:
            run: EmbedRun = embed_missing(
                session, embedder, batch_size=settings.embed_batch_size, limit=COMMIT_EVERY,
                paper_ids=paper_ids, progress=progress,
            )  # fmt: skip
        total += run.embedded
        if run.embedded == 0 or run.remaining == 0:
            break
    with session_scope(settings) as session:
        meta = update_index(session, settings, model=embedder.name)
    with session_scope(settings) as session:
        refresh_fields(session, index_dir(settings), model=embedder.name)
    return RefreshReport(total, run.remaining, meta)


def reindex(settings: Settings, *, embedder: Embedder | None = None) -> IndexMeta | None:
    """Rebuild the index from the embeddings table (after a model change, or to compact it)."""
    name = (embedder or get_embedder(settings)).name
    with session_scope(settings) as session:
        meta = rebuild_index(session, settings, model=name)
        refresh_fields(session, index_dir(settings), model=name, force=True)
        return meta


def missing_vectors(settings: Settings, *, embedder: Embedder | None = None) -> int:
    name = (embedder or get_embedder(settings)).name
    with session_scope(settings) as session:
        return count_missing(session, model=name)
