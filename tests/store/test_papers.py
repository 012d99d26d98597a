"""Papers: the table built from the declaration, and the upsert's rules per declared field."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import JSON, DateTime, Integer, String, Text
from sqlalchemy.orm import Session

from app.arxiv.parse import parse_feed
from app.arxiv.types import PAPER_FIELDS, Feed, FeedEntry
from app.store.ingest import ingest_feed
from app.store.models import Paper
from app.store.papers import AUTHOR_LIMIT, AUTHORS_LIMIT, TEXT_LIMITS, as_utc, get_paper, upsert_papers
from tests.conftest import DATA

OAI = DATA / "oai" / "oai-listrecords-arXiv-cs-2015.xml"
SQL_TYPES = {
    "varchar(40)": String,
    "varchar(200)": String,
    "text": Text,
    "integer": Integer,
    "json": JSON,
    "timestamptz": DateTime,
}


def _classified() -> FeedEntry:
    """A record with both subject classes, as OAI-PMH gives it."""
    entry = next(e for e in parse_feed(OAI.read_bytes()).entries if e.arxiv_id == "1501.03549")
    assert (entry.msc_class, entry.acm_class) == ("52C25, 74N10", "I.3.5")
    return entry


def _stored(session: Session, arxiv_id: str) -> Paper:
    session.expire_all()  # the upsert's UPDATE is a bulk statement: read the rows again
    paper = get_paper(session, arxiv_id)
    assert paper is not None
    return paper


def test_paper_table_has_a_column_per_declared_field() -> None:
    columns = Paper.__table__.columns
    assert [c.name for c in columns] == [
        "id",
        *(spec.name for spec in PAPER_FIELDS),
        "ingested_at",
        "revision",
        "source",  # "arxiv" or a venue source (app/store/venues.py)
    ]
    for spec in PAPER_FIELDS:
        column = columns[spec.name]
        assert isinstance(column.type, SQL_TYPES[spec.stored.sql]), spec.name
        assert (column.nullable, bool(column.unique)) == (spec.nullable, spec.stored.unique), spec.name
    assert columns["arxiv_id"].type.length == 200  # venue ids: `{Stem}_paper@CVF` runs to ~130


def test_paper_typed_attributes_name_columns() -> None:
    typed = set(Paper.__annotations__) - {"listings", "venue_entry", "tldr"}  # tldr: a subquery
    assert typed <= set(Paper.__table__.columns.keys())


def test_upsert_fills_a_missing_class_and_bumps_the_revision(session: Session) -> None:
    full = _classified()
    terse = dataclasses.replace(full, msc_class=None, acm_class=None)  # as a daily feed would say it
    assert upsert_papers(session, entries=[terse]).new == 1
    paper = _stored(session, full.arxiv_id)
    assert (paper.revision, [shown.label for shown, _ in paper.details]) == (0, ["Comments"])

    stats = upsert_papers(session, entries=[full])
    assert (stats.new, stats.updated, stats.changed) == (0, 1, (full.arxiv_id,))
    paper = _stored(session, full.arxiv_id)
    assert paper.revision == 1
    assert [(shown.label, value) for shown, value in paper.details][1:] == [
        ("MSC classes", "52C25, 74N10"),
        ("ACM classes", "I.3.5"),
    ]

    again = upsert_papers(session, entries=[full])
    assert (again.updated, _stored(session, full.arxiv_id).revision) == (0, 1)


def test_upsert_same_version_keeps_a_stored_class(session: Session) -> None:
    full = _classified()
    upsert_papers(session, entries=[full])
    other = dataclasses.replace(full, msc_class="00A00")  # "fill" only fills what is missing
    assert upsert_papers(session, entries=[other]).updated == 0
    assert _stored(session, full.arxiv_id).msc_class == "52C25, 74N10"


def test_upsert_newer_version_without_classes_keeps_them(session: Session) -> None:
    full = _classified()
    upsert_papers(session, entries=[full])
    newer = dataclasses.replace(
        full,
        version=(full.version or 1) + 1,
        title="Deforming Diamond, again",
        msc_class=None,
        acm_class=None,
    )
    assert upsert_papers(session, entries=[newer]).updated == 1
    paper = _stored(session, full.arxiv_id)
    assert (paper.title, paper.revision) == ("Deforming Diamond, again", 1)
    assert (paper.msc_class, paper.acm_class) == ("52C25, 74N10", "I.3.5")


def test_oversized_text_is_cut_logged_and_the_paper_kept(
    session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    """A 5-million-character abstract (or a title of a million) was stored whole and served on every
    page listing the paper; now each field keeps at most its limit, and the cut is logged."""
    huge = FeedEntry(
        arxiv_id="2611.30001", version=1, title="T" * 1_000_000, abstract="a " * 2_500_000,
        authors=("N" * 10_000, *(f"Author {i}" for i in range(AUTHORS_LIMIT + 5))),
        primary_category="cs.LG", categories=("cs.LG",), comments="c" * 50_000,
    )  # fmt: skip
    caplog.set_level("WARNING", logger="app.store.papers")
    upsert_papers(session, entries=[huge])
    paper = get_paper(session, "2611.30001")
    assert paper is not None
    assert len(paper.title) == TEXT_LIMITS["title"] and paper.title.endswith("…")
    assert len(paper.abstract) == TEXT_LIMITS["abstract"]
    assert len(paper.comments or "") == 4_000
    assert len(paper.authors) == AUTHORS_LIMIT and len(paper.authors[0]) == AUTHOR_LIMIT
    assert "paper 2611.30001: abstract of 5000000 characters cut to 20000" in caplog.text


def _published(session: Session, arxiv_id: str) -> dt.datetime | None:
    return as_utc(_stored(session, arxiv_id).published_at)  # SQLite hands back naive UTC


def _dated(when: str, *, version: int = 1) -> FeedEntry:
    return dataclasses.replace(
        _classified(), version=version, published_at=dt.datetime.fromisoformat(when).astimezone(dt.UTC)
    )


def test_the_submission_date_replaces_a_daily_feeds_announcement_and_stays(session: Session) -> None:
    """A daily feed's date is the announcement day; it stood in for the submission date for good
    (the API's details only filled what was missing). Now the API's date replaces it, and no daily
    feed (not even a newer version's) undoes it."""
    announced, submitted = "2025-12-16T05:00:00+00:00", "2025-12-14T18:59:59+00:00"
    rss = Feed(kind="rss2", title="", entries=(_dated(announced),))
    api = Feed(kind="api", title="", entries=(_dated(submitted),))
    arxiv_id = rss.entries[0].arxiv_id
    ingest_feed(session, feed=rss)
    assert _published(session, arxiv_id) == dt.datetime.fromisoformat(announced)
    assert ingest_feed(session, feed=api).updated == 1
    assert _published(session, arxiv_id) == dt.datetime.fromisoformat(submitted)
    assert ingest_feed(session, feed=api).updated == 0  # the same again: nothing
    newer = Feed(kind="rss2", title="", entries=(_dated("2026-01-20T05:00:00+00:00", version=2),))
    assert ingest_feed(session, feed=newer).updated == 1  # the new version's text, not its date
    paper = _stored(session, arxiv_id)
    assert (paper.version, as_utc(paper.published_at)) == (2, dt.datetime.fromisoformat(submitted))


def test_a_day_only_date_does_not_undo_the_time_of_the_same_day(session: Session) -> None:
    """OAI-PMH's `created` is a day: the API's 18:59:59 of that day stays; another day replaces it."""
    exact = _dated("2025-12-14T18:59:59+00:00")
    upsert_papers(session, entries=[exact], submission_dates=True)
    assert (
        upsert_papers(session, entries=[_dated("2025-12-14T00:00:00+00:00")], submission_dates=True).updated
        == 0
    )
    assert _published(session, exact.arxiv_id) == dt.datetime.fromisoformat("2025-12-14T18:59:59+00:00")
    assert (
        upsert_papers(session, entries=[_dated("2025-12-13T00:00:00+00:00")], submission_dates=True).updated
        == 1
    )
    assert _published(session, exact.arxiv_id) == dt.datetime.fromisoformat("2025-12-13T00:00:00+00:00")
