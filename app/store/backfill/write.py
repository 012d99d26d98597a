"""Storing one batch of parsed records: the idempotent upsert of `app.store.papers`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.arxiv.types import FeedEntry
from app.store.papers import upsert_papers


@dataclass(frozen=True, slots=True)
class BatchStats:
    new: int
    updated: int
    unchanged: int
    changed_ids: tuple[int, ...]  # papers.id of the inserted and updated papers


def store_batch(session: Session, *, entries: Sequence[FeedEntry]) -> BatchStats:
    """Upsert `entries` (ids unique within the batch); nothing is committed here."""
    stats = upsert_papers(session, entries=entries)
    changed = tuple(stats.ids[arxiv_id] for arxiv_id in stats.changed)
    return BatchStats(
        new=stats.new,
        updated=stats.updated,
        unchanged=len(stats.ids) - stats.new - stats.updated,
        changed_ids=changed,
    )
