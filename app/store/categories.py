"""Which categories to fetch: the configured ones plus those readers opened recently.

A page view may grow the fetch schedule, so what it can record is bounded: only categories of
arXiv's taxonomy that already have papers here, at most `PER_CLIENT_DAY` new ones per client and
day, and the per-process memory of what was noted is a bounded map.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence

from cachetools import LRUCache
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.arxiv.taxonomy import taxonomy
from app.store.models import CategoryView, Listing
from app.store.upsert import dialect_insert

PER_CLIENT_DAY = 20  # categories one client may add to the schedule in a day
# Per process: the day each category was last noted (a page view writes at most once a day), and
# what each client noted today. Both bounded: a crawler cannot grow them.
_noted: LRUCache[str, dt.date] = LRUCache(maxsize=4_096)
_by_client: LRUCache[tuple[str, dt.date], set[str]] = LRUCache(maxsize=16_384)
_lock = threading.Lock()


def note_categories_opened(
    session: Session, categories: Sequence[str], *, client: str, today: dt.date
) -> list[str]:
    """Remember that a reader opened these categories today; returns those recorded.

    Flushes only; the request commits. Archives (`cs`) and unknown names are never recorded.
    """
    known = taxonomy()
    with _lock:  # cachetools maps are not thread-safe; handlers run in a thread pool
        allowed = _by_client.setdefault((client, today), set())
        fresh = []
        for category in dict.fromkeys(categories):
            if not known.is_category(category) or _noted.get(category) == today:
                continue
            if category not in allowed:
                if len(allowed) >= PER_CLIENT_DAY:
                    continue
                allowed.add(category)
            fresh.append(category)
    if not fresh:
        return []
    with_papers = set(session.scalars(select(Listing.category).where(Listing.category.in_(fresh)).distinct()))
    recorded = [c for c in fresh if c in with_papers]
    for category in recorded:
        stmt = dialect_insert(session, CategoryView).values(category=category, last_opened_on=today)
        session.execute(
            stmt.on_conflict_do_update(index_elements=["category"], set_={"last_opened_on": today})
        )
    with _lock:
        _noted.update(dict.fromkeys(recorded, today))
    return recorded


def categories_to_fetch(session: Session, *, configured: Sequence[str], since: dt.date | None) -> list[str]:
    """The configured categories, then any other opened on or after `since`, each once."""
    opened: list[str] = []
    if since is not None:
        opened = list(
            session.scalars(
                select(CategoryView.category)
                .where(CategoryView.last_opened_on >= since)
                .order_by(CategoryView.category)
            )
        )
    return list(dict.fromkeys([*configured, *opened]))
