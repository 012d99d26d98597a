"""Migration 0b7e3c1f9a24 on a real database: readers' stars and dismissals of NeurIPS papers follow
the ids migration d89503d0ebcc gave the papers (`{hash}@NeurIPS` -> `{hash}@{year}@NeurIPS`)."""

from __future__ import annotations

import datetime as dt

from alembic import command
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings
from app.profiles.store import create_profile
from app.store.db import session_scope
from app.store.migrate import alembic_config
from app.store.models import Paper, ProfileItem
from tests.web.test_venue_pages import VENUES

BEFORE_YEARS = "5d1ee59f96dd"  # the revision before NeurIPS ids carried their year
NOW = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)


def _items(settings: Settings, profile_id: int) -> set[tuple[str, str]]:
    with session_scope(settings) as session:
        rows = session.scalars(select(ProfileItem).where(ProfileItem.profile_id == profile_id))
        return {(item.kind, item.value) for item in rows}


def test_stars_and_dismissals_follow_the_papers_new_ids_and_back(settings_env: Settings) -> None:
    document = VENUES / "neurips/glimpse-NeurIPS2021.first150.json"
    result = CliRunner().invoke(cli, ["venue", "ingest", "--file", str(document), "--no-embed"])
    assert result.exit_code == 0, result.output
    with session_scope(settings_env) as session:
        query = select(Paper.arxiv_id).where(Paper.arxiv_id.like("%@NeurIPS")).order_by(Paper.arxiv_id)
        new = list(session.scalars(query.limit(3)))
    assert all(pid.endswith("@2021@NeurIPS") for pid in new)
    old = [pid.replace("@2021@", "@") for pid in new]
    with session_scope(settings_env) as session:  # a reader's items, under today's ids
        profile, _token = create_profile(session, now=NOW)
        profile_id = profile.id
        today = {("stars", new[0]), ("stars", new[1]), ("dismissals", new[2]), ("stars", "2401.00001")}
        today |= {("authors", old[0])}  # not a star: never renamed
        session.add_all(ProfileItem(profile_id=profile_id, kind=k, value=v, updated_at=NOW) for k, v in today)
    config = alembic_config(settings_env.sqlalchemy_url)
    command.downgrade(config, BEFORE_YEARS)  # papers and items take their old ids back
    held = {("stars", old[0]), ("stars", old[1]), ("dismissals", old[2]), ("stars", "2401.00001")}
    held |= {("authors", old[0])}
    assert _items(settings_env, profile_id) == held
    with session_scope(settings_env) as session:  # the profile_items table is the same at that revision
        odd = {
            ("stars", "0" * 32 + "@NeurIPS"),  # no such paper: left as it is
            ("stars", new[1]),  # the new id already held beside the old one: the old one stays
        }
        session.add_all(ProfileItem(profile_id=profile_id, kind=k, value=v, updated_at=NOW) for k, v in odd)
    command.upgrade(config, "heads")
    assert _items(settings_env, profile_id) == {
        ("stars", new[0]), ("stars", old[1]), ("dismissals", new[2]),
        ("stars", "0" * 32 + "@NeurIPS"), ("stars", new[1]), ("stars", "2401.00001"), ("authors", old[0]),
    }  # fmt: skip
