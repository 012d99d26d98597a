"""Migrations down and up again on a populated database (SQLite or PostgreSQL) keep every row.

On SQLite, batch mode rebuilds a table to drop a column, and dropping the old table (foreign keys on)
cascade-deleted the rows pointing at it: downgrading past the papers' `revision` column emptied the
listings, and past the digest confirmation columns every profile's items."""

from __future__ import annotations

import datetime as dt

from alembic import command
from sqlalchemy import func, select

from app.config import Settings
from app.profiles.store import ItemChange, create_profile, merge_profile
from app.store.db import session_scope
from app.store.ingest import ingest_file
from app.store.migrate import alembic_config
from app.store.models import Listing, Paper, ProfileItem, Summary
from tests.conftest import DATA

BEFORE_PAPER_REVISION = "6ff0850f248a"  # below every migration that drops a column of theirs
BEFORE_CONFIRMATION = "7c2d5e8a4b61"  # below the profiles' digest confirmation columns
AT = dt.datetime(2025, 12, 15, 8, tzinfo=dt.UTC)


def _counts(settings: Settings) -> dict[str, int]:
    with session_scope(settings) as session:
        return {
            model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Paper, Listing, Summary, ProfileItem)
        }


def test_down_past_every_dropped_column_and_up_again_keeps_every_row(settings_env: Settings) -> None:
    path = DATA / "api" / "api-2025-cs-100-entries.xml"
    ingest_file(settings_env, path=path, category="cs.CV", day=dt.date(2025, 12, 15))
    with session_scope(settings_env) as session:
        paper = session.scalars(select(Paper)).first()
        assert paper is not None
        session.add(
            Summary(paper_id=paper.id, model="m", prompt_version="v", lang="en", status="ready",
                    content=[], created_at=AT, updated_at=AT)
        )  # fmt: skip
        profile, _ = create_profile(session, now=AT)
        merge_profile(session, profile, changes=[ItemChange("stars", paper.arxiv_id, AT)], digest=None)
    before = _counts(settings_env)
    assert all(before.values()), before
    config = alembic_config(settings_env.sqlalchemy_url)
    command.downgrade(config, BEFORE_CONFIRMATION)
    command.upgrade(config, "heads")
    assert _counts(settings_env) == before
    command.downgrade(config, BEFORE_PAPER_REVISION)  # profiles did not exist yet: only theirs go
    command.upgrade(config, "heads")
    assert _counts(settings_env) == before | {"ProfileItem": 0}
