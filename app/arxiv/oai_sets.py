"""A category's day as arXiv's OAI-PMH endpoint tells it: the third witness of a day's listing.

arXiv exposes each archive as an OAI-PMH set (`cs`, `math`, `stat` ...; the physics archives as
`physics:hep-th`, `physics:cond-mat` ...), and a record's datestamp is the day its metadata last
changed: the announcement day for a paper announced then (the recorded ListRecords of
tests/data/oai/: a version 2 dated 2015-01-15 carries the datestamp 2015-01-16, the listing that
announced it). So `ListRecords set=<archive> from=D until=D` holds the papers the listing dated D
announced, with replacements and metadata corrections of older ones; the papers new that day are
those created (version 1) inside the day's submission window, and a paper of the category is in it
when the category is among its categories (cross-lists included). Fetching pages through the
resumption tokens is I/O; choosing the day's new papers from parsed entries is pure.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from app.arxiv.fetch import ArxivClient
from app.arxiv.parse import parse_feed
from app.arxiv.taxonomy import taxonomy
from app.arxiv.types import FeedEntry

log = logging.getLogger(__name__)
MAX_PAGES = 20  # arXiv answers ~1,000 records a page: a whole archive's day, replacements included
PHYSICS = "Physics"  # the taxonomy's group name of the archives arXiv nests under the `physics` set


@dataclass(frozen=True, slots=True)
class OaiDay:
    """The papers of a category new on a day according to OAI-PMH; `complete` False when capped."""

    entries: tuple[FeedEntry, ...]
    complete: bool


def oai_set(category: str) -> str:
    """The OAI-PMH set that holds `category`: its archive, under `physics:` for physics archives."""
    known = taxonomy()
    found = known.categories.get(known.aliases.get(category, category))
    if found is None:
        raise ValueError(f"{category!r} is not an arXiv category")
    return f"physics:{found.archive}" if known.groups.get(found.archive) == PHYSICS else found.archive


def new_on_day(
    entries: tuple[FeedEntry, ...], *, category: str, created_from: dt.date, created_to: dt.date
) -> list[FeedEntry]:
    """The entries of `category` first submitted between the two days (inclusive): not replacements."""
    return [
        entry
        for entry in entries
        if category in entry.categories
        and entry.published_at is not None
        and created_from <= entry.published_at.date() <= created_to
    ]


def fetch_oai_day(
    client: ArxivClient, *, category: str, day: dt.date, created_from: dt.date, created_to: dt.date
) -> OaiDay:
    """Page through `ListRecords set=<archive> from=day until=day`; keep the category's new papers."""
    found: dict[str, FeedEntry] = {}
    token: str | None = None
    for _ in range(MAX_PAGES):
        if token is None:
            result = client.fetch_oai(from_date=day, until_date=day, set_spec=oai_set(category))
        else:
            result = client.fetch_oai(resumption_token=token)
        page = parse_feed(result.body or b"")
        for entry in new_on_day(
            page.entries, category=category, created_from=created_from, created_to=created_to
        ):
            found.setdefault(entry.arxiv_id, entry)
        token = page.resumption_token
        if not token:
            return OaiDay(tuple(found.values()), complete=True)
    log.warning("OAI-PMH day capped", extra={"category": category, "day": str(day), "pages": MAX_PAGES})
    return OaiDay(tuple(found.values()), complete=False)
