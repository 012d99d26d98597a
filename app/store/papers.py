"""Papers: an idempotent upsert keyed by arXiv id, and lookups."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, overload

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.arxiv.types import PAPER_FIELDS, FeedEntry
from app.errors import NotFoundError
from app.store.embeddings import drop_embeddings
from app.store.models import Paper
from app.store.upsert import dialect_insert

log = logging.getLogger(__name__)

# SQLite caps bound parameters per statement; keep IN lists well under it.
CHUNK = 500
_FILLED = tuple(spec.name for spec in PAPER_FIELDS if spec.stored.refresh == "fill")


@dataclass(frozen=True, slots=True)
class UpsertStats:
    seen: int
    new: int
    updated: int
    ids: dict[str, int]  # arxiv_id -> papers.id for every entry seen
    changed: tuple[str, ...] = ()  # arxiv ids inserted or updated


def upsert_papers(
    session: Session, *, entries: Sequence[FeedEntry], submission_dates: bool = False
) -> UpsertStats:
    """Insert unknown papers, update those whose version is newer or whose details were missing.

    `submission_dates`: the entries' `published_at` is their first version's submission (the API,
    OAI-PMH, the snapshot) and replaces a stored one; a daily feed's is its announcement day, kept
    only where none is stored (it stood in for the submission for good: nothing corrected it).
    Running it twice with the same entries changes nothing the second time.
    """
    latest = _latest_by_id(entries)
    ids: dict[str, int] = {}
    changed: list[str] = []
    new = updated = 0
    keys = list(latest)
    for start in range(0, len(keys), CHUNK):
        chunk = [latest[key] for key in keys[start : start + CHUNK]]
        n, u = _upsert_chunk(session, chunk, ids, changed, submission_dates=submission_dates)
        new += n
        updated += u
    return UpsertStats(seen=len(entries), new=new, updated=updated, ids=ids, changed=tuple(changed))


def _latest_by_id(entries: Iterable[FeedEntry]) -> dict[str, FeedEntry]:
    latest: dict[str, FeedEntry] = {}
    for entry in entries:
        held = latest.get(entry.arxiv_id)
        if held is None or (entry.version or 0) > (held.version or 0):
            latest[entry.arxiv_id] = entry
    return latest


def _upsert_chunk(
    session: Session,
    chunk: list[FeedEntry],
    ids: dict[str, int],
    changed: list[str],
    *,
    submission_dates: bool,
) -> tuple[int, int]:
    existing = {
        paper.arxiv_id: paper
        for paper in session.scalars(select(Paper).where(Paper.arxiv_id.in_([e.arxiv_id for e in chunk])))
    }
    inserts = [paper_row(entry) for entry in chunk if entry.arxiv_id not in existing]
    updates = []
    for entry in chunk:
        paper = existing.get(entry.arxiv_id)
        if paper is not None:
            ids[entry.arxiv_id] = paper.id
            changes = _changes(paper, entry, submission_dates=submission_dates)
            if changes:
                updates.append({"id": paper.id, **changes, "revision": (paper.revision or 0) + 1})
                changed.append(entry.arxiv_id)
    inserted = _insert_new(session, inserts, ids, changed) if inserts else 0
    if updates:
        session.execute(update(Paper), updates)
        # A new title or abstract makes the old vector wrong: drop it, the embed step redoes it.
        drop_embeddings(session, paper_ids=[u["id"] for u in updates if "title" in u or "abstract" in u])
    session.flush()
    return inserted, len(updates)


def _insert_new(session: Session, rows: list[dict[str, Any]], ids: dict[str, int], changed: list[str]) -> int:
    # DO NOTHING on conflict: a concurrent ingest may have inserted some of these meanwhile;
    # their ids are read back below, and they count as not new here.
    stmt = dialect_insert(session, Paper).on_conflict_do_nothing(index_elements=["arxiv_id"])
    # render_nulls: rows with and without comments/DOI share one multi-row INSERT statement.
    returned = session.execute(
        stmt.returning(Paper.id, Paper.arxiv_id), rows, execution_options={"render_nulls": True}
    ).all()
    ids.update({arxiv_id: pk for pk, arxiv_id in returned})
    changed.extend(arxiv_id for _, arxiv_id in returned)
    missing = [row["arxiv_id"] for row in rows if row["arxiv_id"] not in ids]
    if missing:
        ids.update(
            {
                a: pk
                for pk, a in session.execute(
                    select(Paper.id, Paper.arxiv_id).where(Paper.arxiv_id.in_(missing))
                )
            }
        )
    return len(returned)


# The most a stored field keeps: arXiv caps an abstract at 1,920 characters and a title well under
# 300, and the largest collaborations list ~3,000 authors; a feed or venue file far past these is
# hostile or broken, and its text would be served on every page that lists the paper.
TEXT_LIMITS = {"title": 2_000, "abstract": 20_000}
OTHER_TEXT_LIMIT = 4_000  # comments, journal ref, DOI, classes ...
AUTHOR_LIMIT = 500  # characters of one name
AUTHORS_LIMIT = 10_000  # names of one paper


def paper_row(entry: FeedEntry) -> dict[str, Any]:
    """The `papers` columns of an entry (`PAPER_FIELDS`); the JSON columns as lists; text cut at the
    limits above (logged: the entry is stored, with what fits)."""
    row: dict[str, Any] = {}
    for spec in PAPER_FIELDS:
        value = getattr(entry, spec.name)
        row[spec.name] = list(value) if spec.stored.sql == "json" else value
    for name, value in row.items():
        if isinstance(value, str) and name != "arxiv_id":
            row[name] = _cut(entry.arxiv_id, name, value, TEXT_LIMITS.get(name, OTHER_TEXT_LIMIT))
    authors = row["authors"]
    if len(authors) > AUTHORS_LIMIT:
        log.warning("paper %s: %d authors, the first %d kept", entry.arxiv_id, len(authors), AUTHORS_LIMIT)
    row["authors"] = [_cut(entry.arxiv_id, "an author", a, AUTHOR_LIMIT) for a in authors[:AUTHORS_LIMIT]]
    return row


def _cut(arxiv_id: str, field: str, value: str, limit: int) -> str:
    if len(value) <= limit:
        return value
    log.warning("paper %s: %s of %d characters cut to %d", arxiv_id, field, len(value), limit)
    return value[: limit - 1] + "…"


def _changes(paper: Paper, entry: FeedEntry, *, submission_dates: bool) -> dict[str, Any]:
    """What an entry changes in a stored paper: all of it for a newer version, else missing details;
    the submission date as `upsert_papers` says.

    Which fields a record of the same version may fill in is each field's `Stored.refresh`.
    Empty values never erase stored ones: a terse RSS item must not undo what the API filled in.
    """
    changes = _version_changes(paper, entry)
    stored, submitted = as_utc(paper.published_at), entry.published_at
    if submission_dates and submitted is not None and not _says_as_much(submitted, stored):
        changes["published_at"] = submitted  # the first version's: the same for every version
    elif not submission_dates and stored is not None:
        changes.pop("published_at", None)
    return changes


def _says_as_much(submitted: dt.datetime, stored: dt.datetime | None) -> bool:
    """Whether the stored date is this one, or this one said to the second where it gives the day
    only (OAI-PMH's `created`): the API's 18:59:59 is not undone by the harvest's midnight."""
    if stored is None:
        return False
    day_only = submitted.timetz().replace(tzinfo=None) == dt.time() and submitted.date() == stored.date()
    return submitted == stored or day_only


def _version_changes(paper: Paper, entry: FeedEntry) -> dict[str, Any]:
    if (entry.version or 0) < (paper.version or 0):
        return {}
    row = paper_row(entry)
    if (entry.version or 0) > (paper.version or 0):
        return {key: value for key, value in row.items() if value not in (None, [], "")}
    return {key: row[key] for key in _FILLED if row[key] is not None and getattr(paper, key) is None}


def get_paper(session: Session, arxiv_id: str) -> Paper | None:
    return session.scalar(select(Paper).where(Paper.arxiv_id == arxiv_id))


def stored_paper(session: Session, arxiv_id: str) -> Paper:
    """The stored paper with this id; NotFoundError (a 404 at the edge) when there is none."""
    paper = get_paper(session, arxiv_id)
    if paper is None:
        raise NotFoundError(f"paper {arxiv_id} is not in this instance")
    return paper


def get_papers(session: Session, arxiv_ids: Sequence[str]) -> list[Paper]:
    """Papers in the order asked; unknown ids are left out."""
    found = {p.arxiv_id: p for p in session.scalars(select(Paper).where(Paper.arxiv_id.in_(arxiv_ids)))}
    return [found[arxiv_id] for arxiv_id in arxiv_ids if arxiv_id in found]


@overload
def as_utc(value: dt.datetime) -> dt.datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)
