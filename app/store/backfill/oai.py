"""Harvest arXiv's OAI-PMH endpoint (ListRecords, metadataPrefix=arXiv) page by page.

Each page is stored in one transaction together with the next page's resumption token, so a rerun
with the same parameters asks for the page after the last one stored; a finished harvest is
remembered. A finished harvest whose range goes on (no `until`, or one to come) is topped up by a
rerun: records changed from the day it finished on (OAI-PMH dates are days, `from` included),
counted into the same progress row. The
client keeps to the arXiv rate limit and retries 503s after their Retry-After.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import time
from dataclasses import dataclass

from app.arxiv.fetch import ArxivClient
from app.arxiv.parse import parse_feed
from app.arxiv.ratelimit import limiter_for
from app.arxiv.types import Feed
from app.config import Settings
from app.errors import FeedParseError
from app.store.backfill.progress import (
    BackfillReport,
    BatchDone,
    Progress,
    open_progress,
    report_of,
    save_progress,
    source_key,
)
from app.store.backfill.snapshot import OnBatch, category_matcher
from app.store.backfill.write import store_batch
from app.store.db import session_scope

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OaiOptions:
    from_date: dt.date
    until_date: dt.date | None = None
    set_spec: str | None = None  # "cs", "physics:hep-th" ...
    categories: tuple[str, ...] = ()  # fnmatch patterns applied to the harvested records
    restart: bool = False  # forget a saved resumption token (or a finished harvest) and start over


def harvest_oai(
    settings: Settings,
    options: OaiOptions,
    *,
    client: ArxivClient | None = None,
    on_batch: OnBatch | None = None,
) -> BackfillReport:
    """Harvest (or go on harvesting) every page; `on_batch` is told after each stored page."""
    started = time.perf_counter()
    key, source = source_key(
        "oai",
        {
            "url": settings.arxiv_oai_url,
            "from": options.from_date.isoformat(),
            "until": options.until_date.isoformat() if options.until_date else None,
            "set": options.set_spec,
            "categories": sorted(options.categories),
        },
    )
    with session_scope(settings) as session:
        progress = open_progress(
            session, kind="oai", key=key, source=source, total=None, restart=options.restart
        )
    top_up: dt.date | None = None  # a finished harvest's next list starts on this day
    if progress.finished_at is not None:
        if options.until_date is not None and options.until_date < progress.finished_at.date():
            return report_of("oai", progress, already_finished=True)
        # Its range goes on past the day it finished (no --until, or one to come): arXiv has
        # announced and changed records since (it said "already finished" for good before). The
        # earlier finish is kept until the top-up's last page, so an interrupted top-up, its token
        # expired or not, starts again from the same day.
        top_up = max(options.from_date, progress.finished_at.date())
    records_before = progress.counts["records"]
    own_client = client is None
    client = client or ArxivClient.from_settings(settings, limiter=limiter_for(settings))
    try:
        while True:
            progress = _harvest_page(settings, client, options, progress, on_batch, top_up=top_up)
            if progress.token is None:
                break
    finally:
        if own_client:
            client.close()
    return report_of(
        "oai",
        progress,
        seconds=time.perf_counter() - started,
        records_this_run=progress.counts["records"] - records_before,
    )


def _harvest_page(
    settings: Settings,
    client: ArxivClient,
    options: OaiOptions,
    before: Progress,
    on_batch: OnBatch | None,
    *,
    top_up: dt.date | None = None,
) -> Progress:
    """Fetch, parse and store the next page; returns the progress committed with it. A top-up
    (`top_up`, the day a finished harvest's next list starts) asks a new list when it has no
    token yet, or when its token has expired."""
    token = before.token
    if token is None and before.line > 0 and top_up is None:
        raise FeedParseError(
            "the saved harvest has no resumption token left but is not finished: use --restart"
        )
    feed = None
    if token is not None:
        try:
            feed = _parse_page(client.fetch_oai(resumption_token=token).body or b"", resumed=True)
        except FeedParseError as exc:
            if top_up is None or "badResumptionToken" not in str(exc):
                raise
            log.warning("oai top-up token expired: asking again", extra={"from": top_up.isoformat()})
            token = None
    if feed is None:
        result = client.fetch_oai(
            from_date=top_up or options.from_date, until_date=options.until_date, set_spec=options.set_spec
        )
        feed = _parse_page(result.body or b"", resumed=False)
    if feed.resumption_token is not None and feed.resumption_token == token:
        raise FeedParseError(f"OAI-PMH server sent the same resumption token again ({token[:80]!r})")
    wanted = category_matcher(options.categories)
    entries = [e for e in feed.entries if wanted is None or any(map(wanted, e.categories))]
    after = copy.deepcopy(before)
    after.line += 1
    after.position += len(feed.entries)
    after.token = feed.resumption_token
    after.total = feed.total_results or after.total
    # A top-up keeps the earlier finish until its own last page (a harvest's first run has none).
    after.finished_at = dt.datetime.now(dt.UTC) if feed.resumption_token is None else before.finished_at
    after.counts.update(pages=1, records=len(feed.entries), filtered=len(feed.entries) - len(entries))
    with session_scope(settings) as session:
        stats = store_batch(session, entries=entries)
        after.counts.update(new=stats.new, updated=stats.updated, unchanged=stats.unchanged)
        save_progress(session, before=before, after=after)
    log.info("oai page stored", extra={"page": after.line, "records": len(feed.entries), "new": stats.new})
    if on_batch is not None:
        on_batch(BatchDone(stats.changed_ids, after.position, after.total, dict(after.counts)))
    return after


def _parse_page(body: bytes, *, resumed: bool) -> Feed:
    try:
        feed = parse_feed(body)
    except FeedParseError as exc:
        if resumed and "badResumptionToken" in str(exc):
            raise FeedParseError(f"{exc}; the saved resumption token has expired: use --restart") from exc
        raise
    if feed.kind != "oai":
        raise FeedParseError(f"expected an OAI-PMH response, got a {feed.kind} document")
    return feed
