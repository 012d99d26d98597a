"""Venue papers beside arXiv papers: an idempotent upsert of an edition, arXiv twins, and lookups.

A conference paper is one `papers` row (its text, so embeddings, search, FAQ, counters and stars
work unchanged; `source` says where it came from and `arxiv_id` holds papers.cool's venue id, such
as `GMwRl2e9Y1@OpenReview`) and one `venue_papers` row (edition, group, position, source links,
and its arXiv version when one is known). Repository functions only add and flush: the caller
commits once, so a failing edition leaves nothing behind.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, contains_eager

from app.arxiv.types import FeedEntry
from app.store.embeddings import drop_embeddings
from app.store.models import Paper, VenueEntry
from app.store.papers import CHUNK, paper_row
from app.store.upsert import dialect_insert
from app.venues.types import VenuePaper, is_venue_id
from app.xmlchars import xml_safe

log = logging.getLogger(__name__)

_WORD_RE = re.compile(r"[a-z0-9]+")
_MATH_RE = re.compile(r"\$[^$]*\$")
_SPACE_RE = re.compile(r"\s+")
_TEXT_FIELDS = ("title", "abstract", "authors", "doi")


@dataclass(frozen=True, slots=True)
class VenueUpsertStats:
    seen: int
    new: int
    updated: int
    linked: int  # venue papers with a known arXiv version after this upsert
    changed_ids: tuple[int, ...]  # papers.id inserted or with a new title / abstract: to embed


@dataclass(frozen=True, slots=True)
class EditionSummary:
    venue: str
    year: int
    count: int
    groups: tuple[tuple[str, int], ...]  # (group, papers) in order of first appearance

    @property
    def name(self) -> str:
        return f"{self.venue}.{self.year}"


def title_key(title: str) -> str:
    """A title as compared across sources: accents, case, punctuation and $math$ markers dropped."""
    text = unicodedata.normalize("NFKD", _MATH_RE.sub(lambda m: m.group(0).strip("$"), title))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return " ".join(_WORD_RE.findall(text))


def surname_key(authors: Sequence[str]) -> str:
    """The first author's surname, compared the same way ("Jane van Doe" -> "doe")."""
    if not authors:
        return ""
    words = title_key(authors[0].split(",")[0] if "," in authors[0] else authors[0]).split()
    return words[-1] if words else ""


def venue_entry_record(paper: VenuePaper) -> FeedEntry:
    """The `papers` columns of a venue paper, through the one declaration of a paper's fields."""
    return FeedEntry(
        arxiv_id=paper.paper_id,
        version=None,
        title=_SPACE_RE.sub(" ", paper.title).strip(),
        abstract=paper.abstract,
        authors=paper.authors,
        primary_category=None,
        categories=(),
        doi=paper.doi,
    )


def upsert_venue_papers(session: Session, *, papers: Sequence[VenuePaper]) -> VenueUpsertStats:
    """Insert or update an edition's papers (or several editions'); a second run changes nothing.

    Positions follow the order given, per edition, when the papers given are at least as many as the
    edition holds (a whole listing); fewer (one PMLR post, a partial file) keep the stored papers'
    places and come after them: they renumbered the edition from 1. A record seen twice (a listing,
    then the paper page that gave its abstract) keeps its first place and its fullest text.
    """
    merged = _merge(_storable(papers))
    ids: dict[str, int] = {}
    changed: list[int] = []
    new = updated = 0
    keys = list(merged)
    for start in range(0, len(keys), CHUNK):
        chunk = [merged[key] for key in keys[start : start + CHUNK]]
        n, u = _upsert_papers_chunk(session, chunk, ids, changed)
        new, updated = new + n, updated + u
    links = _arxiv_links(session, list(merged.values()), ids)
    places = _places(session, list(merged.values()), ids)
    rows = [
        _entry_row(paper, ids[paper.paper_id], places[paper.paper_id], links.get(paper.paper_id))
        for paper in merged.values()
    ]
    moved: list[int] = []
    for start in range(0, len(rows), CHUNK):
        moved += _upsert_entries(session, rows[start : start + CHUNK])
    # A paper whose place changed (another group, position, link) is a new revision of it: the pages
    # showing it are stamped by revisions, and kept pages went on showing its old group.
    revised_already = set(changed)  # their text changed: bumped by _upsert_papers_chunk
    moved = [pk for pk in moved if pk not in revised_already]
    for start in range(0, len(moved), CHUNK):
        revised = moved[start : start + CHUNK]
        session.execute(update(Paper).where(Paper.id.in_(revised)).values(revision=Paper.revision + 1))
    session.flush()
    linked = sum(1 for row in rows if row["arxiv_paper_id"] is not None)
    return VenueUpsertStats(len(papers), new, updated, linked, tuple(changed))


def _places(session: Session, papers: list[VenuePaper], ids: dict[str, int]) -> dict[str, int]:
    """Each paper's position in its edition (see upsert_venue_papers)."""
    places: dict[str, int] = {}
    editions: dict[tuple[str, int], list[VenuePaper]] = {}
    for paper in papers:
        editions.setdefault((paper.venue, paper.year), []).append(paper)
    for (venue, year), given in editions.items():
        query = select(VenueEntry.paper_id, VenueEntry.position).where(
            VenueEntry.venue == venue, VenueEntry.year == year
        )
        held: dict[int, int] = dict(session.execute(query).all())
        if len(given) >= len(held):
            places.update({paper.paper_id: n for n, paper in enumerate(given, start=1)})
            continue
        last = max(held.values(), default=0)
        for paper in given:
            kept = held.get(ids[paper.paper_id])
            if kept is None:
                last += 1
            places[paper.paper_id] = kept if kept is not None else last
    return places


def _storable(papers: Sequence[VenuePaper]) -> list[VenuePaper]:
    """The papers as they can be stored and opened: their text without the control characters XML
    forbids (a NUL in one title failed a whole ingest on PostgreSQL, and reached the pages on SQLite),
    and only those whose id a URL can name (a CVF stem with `'` or `%`, or one over 180 characters,
    was stored behind a link that answered 404)."""
    kept = [
        replace(
            paper,
            title=xml_safe(paper.title),
            abstract=xml_safe(paper.abstract),
            authors=tuple(xml_safe(author) for author in paper.authors),
            group=xml_safe(paper.group) if paper.group is not None else None,
        )
        for paper in papers
        if is_venue_id(paper.paper_id)
    ]
    if len(kept) < len(papers):
        skipped = [p.paper_id for p in papers if not is_venue_id(p.paper_id)]
        log.warning(
            "venue papers skipped: no URL can name their ids",
            extra={"count": len(skipped), "first": skipped[0][:200]},
        )
    return kept


def _merge(papers: Iterable[VenuePaper]) -> dict[str, VenuePaper]:
    merged: dict[str, VenuePaper] = {}
    for paper in papers:
        held = merged.get(paper.paper_id)
        if held is None or (paper.abstract and not held.abstract):
            merged[paper.paper_id] = paper if held is None else _fuller(held, paper)
    return merged


def _fuller(held: VenuePaper, later: VenuePaper) -> VenuePaper:
    return replace(held, abstract=later.abstract)


def _upsert_papers_chunk(
    session: Session, chunk: list[VenuePaper], ids: dict[str, int], changed: list[int]
) -> tuple[int, int]:
    keys = [paper.paper_id for paper in chunk]
    existing = {p.arxiv_id: p for p in session.scalars(select(Paper).where(Paper.arxiv_id.in_(keys)))}
    inserts, updates = [], []
    inserted = 0
    for paper in chunk:
        row = paper_row(venue_entry_record(paper)) | {"source": paper.source}
        stored = existing.get(paper.paper_id)
        if stored is None:
            inserts.append(row)
            continue
        ids[paper.paper_id] = stored.id
        # The source's latest word wins, but an empty value never erases a stored one.
        changes = {
            k: row[k] for k in _TEXT_FIELDS if row[k] not in (None, "", []) and row[k] != getattr(stored, k)
        }
        if changes:
            updates.append({"id": stored.id, **changes, "revision": (stored.revision or 0) + 1})
    if inserts:
        stmt = dialect_insert(session, Paper).on_conflict_do_nothing(index_elements=["arxiv_id"])
        returned = session.execute(
            stmt.returning(Paper.id, Paper.arxiv_id), inserts, execution_options={"render_nulls": True}
        ).all()
        ids.update({key: pk for pk, key in returned})
        inserted = len(returned)
        changed.extend(pk for pk, _ in returned)
        missing = [row["arxiv_id"] for row in inserts if row["arxiv_id"] not in ids]
        if missing:  # inserted meanwhile by a concurrent ingest
            ids.update(
                {
                    k: pk
                    for pk, k in session.execute(
                        select(Paper.id, Paper.arxiv_id).where(Paper.arxiv_id.in_(missing))
                    )
                }
            )
    if updates:
        session.execute(update(Paper), updates)
        retext = [u["id"] for u in updates if "title" in u or "abstract" in u]
        drop_embeddings(session, paper_ids=retext)  # their vectors no longer say what they are
        changed.extend(retext)
    return inserted, len(updates)


def _entry_row(paper: VenuePaper, paper_pk: int, position: int, arxiv_pk: int | None) -> dict[str, Any]:
    return {
        "paper_id": paper_pk,
        "source": paper.source,
        "source_id": paper.source_id,
        "venue": paper.venue,
        "year": paper.year,
        "group": paper.group,
        "position": position,
        "url": paper.url,
        "pdf_url": paper.pdf_url,
        "arxiv_paper_id": arxiv_pk,
    }


def _upsert_entries(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert the entries, or update those stored that changed; the papers.id of the updated ones."""
    stmt = dialect_insert(session, VenueEntry)
    columns = ("venue", "year", "group", "position", "url", "pdf_url", "arxiv_paper_id")
    asked = [row["paper_id"] for row in rows]
    stored = set(session.scalars(select(VenueEntry.paper_id).where(VenueEntry.paper_id.in_(asked))))
    stmt = stmt.on_conflict_do_update(
        index_elements=["paper_id"],
        set_={c: getattr(stmt.excluded, c) for c in columns},
        where=or_(*(getattr(VenueEntry, c).is_distinct_from(getattr(stmt.excluded, c)) for c in columns)),
    ).returning(VenueEntry.paper_id)
    touched = session.scalars(stmt, rows, execution_options={"render_nulls": True}).all()
    return [pk for pk in touched if pk in stored]


def _arxiv_links(session: Session, papers: list[VenuePaper], ids: dict[str, int]) -> dict[str, int]:
    """venue id -> papers.id of its arXiv version: the id the source gives, else the same title
    (compared by `title_key`) with the same first author's surname. Stored links are kept when
    nothing is found now (an arXiv paper is never un-ingested). `ids`: venue id -> its papers.id."""
    links: dict[str, int] = {}
    named = {p.arxiv_id: p.paper_id for p in papers if p.arxiv_id}
    arxiv_ids = list(named)
    for start in range(0, len(arxiv_ids), CHUNK):
        chunk = arxiv_ids[start : start + CHUNK]
        for pk, arxiv_id in session.execute(
            select(Paper.id, Paper.arxiv_id).where(Paper.source == "arxiv", Paper.arxiv_id.in_(chunk))
        ):
            links[named[arxiv_id]] = pk
    wanted: dict[tuple[str, str], str] = {}
    for p in papers:
        if p.paper_id not in links:
            wanted[(title_key(p.title), surname_key(p.authors))] = p.paper_id
    # Candidates by lower(title) (no index needed for an edition's few thousand titles), in the
    # spellings the sources differ by: a trailing period, $math$ markers; `title_key` then decides.
    lowered = list({v for p in papers if p.paper_id not in links for v in _spellings(p.title)})
    for start in range(0, len(lowered), CHUNK):
        chunk = lowered[start : start + CHUNK]
        query = select(Paper.id, Paper.title, Paper.authors).where(
            Paper.source == "arxiv", func.lower(Paper.title).in_(chunk)
        )
        for pk, title, authors in session.execute(query):
            found = wanted.get((title_key(title), surname_key(authors or [])))
            if found is not None:
                links.setdefault(found, pk)
    unlinked = {ids[p.paper_id]: p.paper_id for p in papers if p.paper_id not in links}
    pks = list(unlinked)
    for start in range(0, len(pks), CHUNK):
        kept = select(VenueEntry.paper_id, VenueEntry.arxiv_paper_id).where(
            VenueEntry.paper_id.in_(pks[start : start + CHUNK]), VenueEntry.arxiv_paper_id.is_not(None)
        )
        links.update({unlinked[pk]: stored for pk, stored in session.execute(kept) if stored is not None})
    return links


def _spellings(title: str) -> set[str]:
    base = _SPACE_RE.sub(" ", title).strip().lower().rstrip(".")
    return {base, f"{base}.", base.replace("$", ""), f"{base.replace('$', '')}."}


# --- twins: search and related show a paper once -------------------------------------------------


def twin_ids(session: Session, paper_ids: Sequence[int]) -> set[int]:
    """The venue papers among `paper_ids` whose arXiv version is also among them."""
    if not paper_ids:
        return set()
    asked = set(paper_ids)
    found: set[int] = set()
    ids = list(asked)
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(VenueEntry.paper_id, VenueEntry.arxiv_paper_id).where(
                VenueEntry.paper_id.in_(ids[start : start + CHUNK]), VenueEntry.arxiv_paper_id.is_not(None)
            )
        )
        found.update(venue for venue, arxiv in rows if arxiv in asked)
    return found


def twins_of(session: Session, paper_id: int) -> set[int]:
    """The other versions of one paper: its venue twins (for an arXiv paper) or its arXiv one."""
    rows = session.execute(
        select(VenueEntry.paper_id, VenueEntry.arxiv_paper_id).where(
            or_(VenueEntry.paper_id == paper_id, VenueEntry.arxiv_paper_id == paper_id)
        )
    )
    return {pk for row in rows for pk in row if pk is not None and pk != paper_id}


# --- lookups for pages and the API ----------------------------------------------------------------


def edition_summaries(
    session: Session, *, venue: str | None = None, year: int | None = None
) -> list[EditionSummary]:
    """Every stored edition (or those of `venue` / `year`) with its paper count and groups, venues A-Z,
    newest edition first."""
    query = select(
        VenueEntry.venue, VenueEntry.year, VenueEntry.group, func.count(), func.min(VenueEntry.position)
    ).group_by(VenueEntry.venue, VenueEntry.year, VenueEntry.group)
    if venue is not None:
        query = query.where(VenueEntry.venue == venue)
    if year is not None:
        query = query.where(VenueEntry.year == year)
    rows = session.execute(query).all()
    editions: dict[tuple[str, int], list[tuple[str | None, int, int]]] = {}
    for venue_name, year_of, group, count, first in rows:
        editions.setdefault((venue_name, year_of), []).append((group, count, first))
    out = []
    for (venue, year), groups in editions.items():
        ordered = sorted(groups, key=lambda r: r[2])
        named = tuple((name, count) for name, count, _ in ordered if name)
        out.append(EditionSummary(venue, year, sum(count for _, count, _ in ordered), named))
    return sorted(out, key=lambda e: (e.venue.lower(), -e.year))


def stored_venue(session: Session, token: str) -> str | None:
    """The stored spelling of a venue token, without regard to case ("iclr" -> "ICLR")."""
    names = session.scalars(select(VenueEntry.venue).distinct())
    return next((name for name in names if name.lower() == token.lower()), None)


def latest_year(session: Session, venue: str) -> int | None:
    return session.scalar(select(func.max(VenueEntry.year)).where(VenueEntry.venue == venue))


def edition_papers(
    session: Session,
    *,
    venue: str,
    year: int,
    group: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Paper]:
    """An edition's papers in their order, each with its `venue_entry` loaded."""
    query = _with_entry().where(VenueEntry.venue == venue, VenueEntry.year == year)
    if group:
        query = query.where(VenueEntry.group == group)
    query = query.order_by(VenueEntry.position).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def edition_count(session: Session, *, venue: str, year: int, group: str | None = None) -> int:
    query = (
        select(func.count()).select_from(VenueEntry).where(VenueEntry.venue == venue, VenueEntry.year == year)
    )
    if group:
        query = query.where(VenueEntry.group == group)
    return session.scalar(query) or 0


def edition_stamp(session: Session, *, venue: str, year: int) -> tuple[str, int, int, int | None, str]:
    """What an edition page depends on: its papers (how many), their revisions and the latest addition."""
    row = session.execute(
        select(func.count(), func.sum(Paper.revision), func.max(VenueEntry.added_at))
        .join(VenueEntry, VenueEntry.paper_id == Paper.id)
        .where(VenueEntry.venue == venue, VenueEntry.year == year)
    ).one()
    return (venue, year, int(row[0]), row[1], str(row[2]))


def venue_papers_by_id(session: Session, paper_ids: Sequence[str]) -> list[Paper]:
    """Venue papers by papers.cool id, in the order asked; unknown ids are left out."""
    found = {p.arxiv_id: p for p in session.scalars(_with_entry().where(Paper.arxiv_id.in_(list(paper_ids))))}
    return [found[key] for key in paper_ids if key in found]


def latest_venue_papers(session: Session, *, venue: str | None = None, limit: int = 100) -> list[Paper]:
    """The venue papers added last (the newest proceedings first), of one venue or of all."""
    query = _with_entry()
    if venue is not None:
        query = query.where(VenueEntry.venue == venue)
    query = query.order_by(VenueEntry.added_at.desc(), VenueEntry.year.desc(), VenueEntry.position).limit(
        limit
    )
    return list(session.scalars(query))


def _with_entry() -> Any:
    return (
        select(Paper)
        .join(VenueEntry, and_(VenueEntry.paper_id == Paper.id))
        .options(contains_eager(Paper.venue_entry))
    )
