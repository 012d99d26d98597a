"""Which categories to fetch: the configured ones plus those readers opened recently."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.store.models import CategoryView
from app.store.upsert import dialect_insert

# Per process, the day each category was last noted: a page view writes at most once a day.
_noted: dict[str, dt.date] = {}


def note_categories_opened(session: Session, categories: Sequence[str], *, today: dt.date) -> None:
    """Remember that readers opened these categories today (flushes; the request commits)."""
    for category in categories:
        if "." not in category or _noted.get(category) == today:
            continue
        stmt = dialect_insert(session, CategoryView).values(category=category, last_opened_on=today)
        session.execute(
            stmt.on_conflict_do_update(index_elements=["category"], set_={"last_opened_on": today})
        )
        _noted[category] = today


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
