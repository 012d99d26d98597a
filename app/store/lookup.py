"""Any arXiv paper on demand: a paper not in the database is fetched through the API and stored.

Guarded so that readers (or crawlers) cannot turn it into a flood of arXiv requests: ids arXiv
does not know are remembered for a day, and only a few lookups wait on the rate limiter at once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from app.arxiv.fetch import ArxivClient
from app.arxiv.parse import parse_feed
from app.arxiv.ratelimit import limiter_for
from app.config import Settings
from app.errors import FeedParseError, FetchError
from app.store.db import session_scope
from app.store.papers import upsert_papers

UNKNOWN_TTL = 24 * 3600
MAX_UNKNOWN = 10_000
MAX_CONCURRENT = 4  # lookups waiting for arXiv at once, per process; more get 503 + Retry-After
_unknown: OrderedDict[str, float] = OrderedDict()
_lock = threading.Lock()
_slots = threading.BoundedSemaphore(MAX_CONCURRENT)


def _known_unknown(arxiv_id: str) -> bool:
    with _lock:
        seen = _unknown.get(arxiv_id)
        if seen is not None and time.monotonic() - seen < UNKNOWN_TTL:
            return True
        _unknown.pop(arxiv_id, None)
        return False


def _remember_unknown(arxiv_id: str) -> None:
    with _lock:
        _unknown[arxiv_id] = time.monotonic()
        while len(_unknown) > MAX_UNKNOWN:
            _unknown.popitem(last=False)


def fetch_paper(settings: Settings, arxiv_id: str) -> bool:
    """Fetch one paper by id from the arXiv API and store it; False when arXiv does not know it.

    Raises FetchError (with `retry_after`) when arXiv cannot be reached or too many lookups wait.
    """
    if _known_unknown(arxiv_id):
        return False
    if not _slots.acquire(blocking=False):
        raise FetchError("too many papers are being fetched from arXiv right now", retry_after=10)
    try:
        with ArxivClient.from_settings(settings, limiter=limiter_for(settings)) as client:
            result = client.fetch_api(id_list=[arxiv_id], max_results=1)
        try:
            feed = parse_feed(result.body or b"")
        except FeedParseError:  # the API's "incorrect id format" answer: it is not a paper
            feed = None
        entries = [e for e in feed.entries if e.arxiv_id == arxiv_id] if feed else []
        if not entries:
            _remember_unknown(arxiv_id)
            return False
        with session_scope(settings) as session:
            upsert_papers(session, entries=entries)
        return True
    except FetchError as exc:
        if exc.retry_after is None:
            exc.retry_after = 60
        raise
    finally:
        _slots.release()
