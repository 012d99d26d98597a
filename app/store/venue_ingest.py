"""Ingest a venue edition: from a file (offline) or from its source (live, through `harvest`).

All or nothing: every document is fetched and parsed before anything is stored, and the edition is
stored in one transaction, so a bad or truncated document changes nothing. Resumable: a rerun asks
with the validators each URL answered last time (a 304 edition is left as it is) and does not fetch
again the abstracts of papers already stored with one. One exception: a CVF or NeurIPS edition is a
whole listing then a page per paper for its abstract (~2,000 of them, over an hour at the polite
interval); when the source fails or the run is stopped midway (Ctrl-C, a worker's soft time limit),
the listing and the abstracts read so far are stored before the error goes on, so the rerun (the
task's retry) reads only the abstracts still missing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from app.config import Settings
from app.errors import VenueError, VenueFetchError, VenueParseError
from app.store.db import session_scope
from app.store.fetch_log import add_fetch_log, last_validators
from app.store.models import Paper
from app.store.venues import VenueUpsertStats, upsert_venue_papers
from app.venues.catalog import Edition
from app.venues.documents import parse_venue_file
from app.venues.fetch import VenueClient
from app.venues.harvest import VenueEndpoints, VenuePage, iter_edition_pages
from app.venues.types import VenuePaper

MAX_FILE_BYTES = 500_000_000
LISTING_FIRST = frozenset({"cvf", "neurips"})  # a whole listing, then one page per abstract


class _Partial(Exception):
    """The pages of a listing-first edition read before its source failed or the run was stopped
    (Ctrl-C, a worker's soft time limit), and why."""

    def __init__(self, pages: list[VenuePage], error: BaseException):
        super().__init__(str(error))
        self.pages, self.error = pages, error


@dataclass(frozen=True, slots=True)
class VenueIngestReport:
    edition: str  # "ICLR.2024" (or several, comma-separated, for a file that holds more)
    pages: int  # documents read (1 for a file)
    not_modified: bool  # every document answered 304: nothing to store
    stats: VenueUpsertStats

    def summary(self) -> str:
        if self.not_modified:
            return f"{self.edition}: not modified since the last fetch"
        s = self.stats
        return (f"{self.edition}: {s.seen} papers read from {self.pages} documents, {s.new} new, "
                f"{s.updated} updated, {s.linked} linked to arXiv")  # fmt: skip


def ingest_venue_file(
    settings: Settings,
    *,
    path: Path,
    venue: str | None = None,
    year: int | None = None,
    source: str | None = None,
) -> VenueIngestReport:
    """Parse one saved document (any supported kind) and store its papers in one transaction.

    `venue` and `year` name the edition of a document that does not say it; one that says another
    year, or whose papers come from another source than `source`, is refused (it would be stored
    under an edition that is not its own).
    """
    if path.stat().st_size > MAX_FILE_BYTES:
        raise OSError(f"{path}: over {MAX_FILE_BYTES} bytes")
    document = parse_venue_file(path, venue=venue, year=year)  # raises before anything is stored
    sources = {p.source for p in document.papers}
    if source is not None and sources - {source}:
        raise VenueParseError(f"{path.name}: its papers come from {', '.join(sorted(sources))}, not {source}")
    years = {p.year for p in document.papers}
    if year is not None and years - {year}:
        raise VenueParseError(
            f"{path.name}: its papers are of {', '.join(map(str, sorted(years)))}, not {year}"
        )
    return _store(settings, list(document.papers), pages=1)


def ingest_edition(
    settings: Settings,
    edition: Edition,
    *,
    client: VenueClient | None = None,
    endpoints: VenueEndpoints | None = None,
    on_page: Callable[[VenuePage], None] = lambda page: None,
) -> VenueIngestReport:
    """Fetch an edition politely, page by page (`on_page` after each), then store it at once."""
    endpoints = endpoints or VenueEndpoints.from_settings(settings)
    owned = client is None
    client = client or VenueClient.from_settings(settings)
    started = dt.datetime.now(dt.UTC)
    try:
        pages = _harvest(settings, client, edition, endpoints, on_page, conditional=True)
        if pages and all(page.not_modified for page in pages):
            return VenueIngestReport(edition.name, len(pages), True, VenueUpsertStats(0, 0, 0, 0, ()))
        if any(page.not_modified for page in pages):  # positions need the whole edition: read it all
            pages = _harvest(settings, client, edition, endpoints, on_page, conditional=False)
    except _Partial as partial:
        # No validators logged: the rerun reads the listing again and only the missing abstracts.
        _store(settings, [p for page in partial.pages for p in page.papers], pages=len(partial.pages))
        if not isinstance(partial.error, VenueError):
            raise partial.error from None  # stopped: what was read is kept all the same
        abstracts = len(partial.pages) - 1
        raise _told(partial.error, f"{edition.name}'s listing and {abstracts} abstracts stored") from partial
    finally:
        if owned:
            client.close()
    report = _store(settings, [p for page in pages for p in page.papers], pages=len(pages))
    with session_scope(settings) as session:  # validators for the next run, once the edition is in
        for page in pages:
            add_fetch_log(session, url=page.url, category=f"venue:{edition.name}", started_at=started,
                          http_status=page.status, etag=page.etag, last_modified=page.last_modified,
                          entries_seen=len(page.papers))  # fmt: skip
    return report


def _harvest(
    settings: Settings,
    client: VenueClient,
    edition: Edition,
    endpoints: VenueEndpoints,
    on_page: Callable[[VenuePage], None],
    *,
    conditional: bool,
) -> list[VenuePage]:
    with session_scope(settings) as session:
        with_abstract = set(
            session.scalars(
                select(Paper.arxiv_id).where(Paper.source == edition.source, Paper.abstract != "")
            )
        )

    def validators(url: str) -> tuple[str | None, str | None]:
        if not conditional:
            return None, None
        with session_scope(settings) as session:
            return last_validators(session, url)

    pages: list[VenuePage] = []
    try:
        for page in iter_edition_pages(
            client,
            edition,
            endpoints=endpoints,
            validators=validators,
            need_abstract=lambda paper_id: paper_id not in with_abstract,
        ):
            pages.append(page)
            on_page(page)
    except (Exception, KeyboardInterrupt) as exc:  # a worker's soft time limit is an Exception too
        if edition.source in LISTING_FIRST and pages and pages[0].papers:  # a whole listing came
            raise _Partial(pages, exc) from exc
        raise
    return pages


def _told(error: VenueError, note: str) -> VenueError:
    """The same error (a fetch error keeps the task's retries) with what was kept said after it."""
    if isinstance(error, VenueFetchError):
        return VenueFetchError(f"{error}; {note}", status=error.status, retry_after=error.retry_after)
    return type(error)(f"{error}; {note}")


def _store(settings: Settings, papers: list[VenuePaper], *, pages: int) -> VenueIngestReport:
    with session_scope(settings) as session:
        stats = upsert_venue_papers(session, papers=papers)
    editions = ",".join(dict.fromkeys(p.edition for p in papers)) or "(no papers)"
    return VenueIngestReport(editions, pages, False, stats)
