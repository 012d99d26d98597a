"""Any arXiv paper on demand: a paper not in the database is fetched through the API and stored.

Guarded so that readers (or crawlers) can turn it neither into a flood of arXiv requests nor into a
web tier tied up while arXiv is slow or away (one lookup can take ~20 s of retries):
- ids arXiv does not know are remembered for a day, failed lookups for a minute;
- at most MAX_CONCURRENT lookups run at once per process; one more is refused (503 + Retry-After)
  rather than queued behind them;
- one client starts at most RATE_LOOKUP_PER_MINUTE lookups a minute (the edge, which knows the
  client, says so through `may_start`; 429 past it), so that no one holds every slot;
- pages start a lookup in the background (`start_lookup`) and answer at once with a page that polls
  `/arxiv/lookup`; readers asking for an id already being looked up share that lookup. The API
  waits for its answer (`fetch_paper`), in the same slots.

What a reader is told never carries arXiv's address or the transport's error: that goes to the log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from cachetools import TTLCache
from sqlalchemy.orm import Session

from app.arxiv.fetch import ArxivClient
from app.arxiv.parse import parse_feed
from app.arxiv.ratelimit import limiter_for
from app.config import Settings
from app.errors import ArxivUnavailableError, FeedParseError, FetchError, RateLimitedError
from app.store.db import session_scope
from app.store.models import Paper
from app.store.papers import get_paper, upsert_papers
from app.venues.types import is_venue_id

log = logging.getLogger(__name__)
UNKNOWN_TTL = 24 * 3600
FAILED_TTL = 60  # a failed lookup is not tried again for a minute: pollers and reloads are told so
FOUND_TTL = 300  # a lookup that stored its paper: pollers in this process reread the database
MAX_UNKNOWN = 10_000
MAX_CONCURRENT = 4  # lookups waiting for arXiv at once, per process; more get 503 + Retry-After
BUSY_RETRY = 10  # seconds: the Retry-After of a lookup refused for want of a slot
LIMITED_RETRY = 60  # seconds: the Retry-After of a lookup refused for a client over its limit
# The negative cache: an id arXiv did not know, forgotten after a day (or when 10,000 newer crowd it out).
_unknown: TTLCache[str, bool] = TTLCache(maxsize=MAX_UNKNOWN, ttl=UNKNOWN_TTL)
_failed: TTLCache[str, int] = TTLCache(maxsize=MAX_UNKNOWN, ttl=FAILED_TTL)  # id -> Retry-After
_found: TTLCache[str, bool] = TTLCache(maxsize=MAX_UNKNOWN, ttl=FOUND_TTL)
_running: dict[str, threading.Event] = {}  # lookups in the background, set when each ends
_lock = threading.Lock()  # guards the maps above (a TTLCache is not thread-safe)
_slots = threading.BoundedSemaphore(MAX_CONCURRENT)

LookupStatus = Literal["found", "pending", "unknown", "unreachable", "busy", "limited"]
MayStart = Callable[[], bool]  # asked when a lookup would start: whether this client may start one


@dataclass(frozen=True, slots=True)
class Lookup:
    """Where the lookup of one id stands, in words a reader may see."""

    arxiv_id: str
    status: LookupStatus
    retry_after: int | None = None  # seconds, for "unreachable", "busy" and "limited"

    @property
    def message(self) -> str:
        return {
            "found": f"{self.arxiv_id} was fetched from arXiv",
            "pending": f"fetching {self.arxiv_id} from arXiv…",
            "unknown": f"arXiv does not know the paper {self.arxiv_id}",
            "unreachable": f"arXiv could not be reached to fetch {self.arxiv_id}; try again in a minute",
            "busy": "this server is fetching as many papers from arXiv as it allows at once; "
            "try again in a few seconds",
            "limited": f"you have asked for many papers this server does not hold yet; {self.arxiv_id} "
            "can be fetched in a minute",
        }[self.status]

    def error(self) -> ArxivUnavailableError | RateLimitedError:
        """The 503 (or for a client over its limit, 429) to answer when this lookup is why a page has
        nothing to show."""
        if self.status == "limited":
            return RateLimitedError(self.message, retry_after=self.retry_after or LIMITED_RETRY)
        return ArxivUnavailableError(self.message, retry_after=self.retry_after or BUSY_RETRY)


def _known_unknown(arxiv_id: str) -> bool:
    with _lock:
        return arxiv_id in _unknown


def _remember_unknown(arxiv_id: str) -> None:
    with _lock:
        _unknown[arxiv_id] = True


def fetch_paper(settings: Settings, arxiv_id: str, *, may_start: MayStart | None = None) -> bool:
    """Fetch one paper by id from the arXiv API and store it, waiting; False when arXiv does not know it.

    Raises ArxivUnavailableError (with `retry_after`) when arXiv cannot be reached or too many
    lookups run; its message names neither arXiv's address nor the transport's error.
    """
    if _known_unknown(arxiv_id):
        return False
    with _lock:
        known = _outcome(arxiv_id)
    if known is not None and known.status == "unreachable":  # failed a moment ago, here or on a page
        raise known.error()
    if may_start is not None and not may_start():
        raise Lookup(arxiv_id, "limited", LIMITED_RETRY).error()
    if not _slots.acquire(blocking=False):
        raise Lookup(arxiv_id, "busy", BUSY_RETRY).error()
    try:
        return _fetch_and_store(settings, arxiv_id)
    except FetchError as exc:
        raise Lookup(arxiv_id, "unreachable", _failed_now(arxiv_id, exc)).error() from exc
    finally:
        _slots.release()


def start_lookup(settings: Settings, arxiv_id: str, *, may_start: MayStart | None = None) -> Lookup:
    """Where the lookup of an id not in the database stands; when none is known, one starts now in
    the background ("pending"), or, with every slot taken, none does ("busy"), nor for a client
    `may_start` refuses ("limited")."""
    with _lock:
        known = _outcome(arxiv_id)
    if known is not None:
        return known
    if may_start is not None and not may_start():  # outside the lock: it may ask Redis
        return Lookup(arxiv_id, "limited", LIMITED_RETRY)
    with _lock:
        known = _outcome(arxiv_id)  # started meanwhile by another reader: joined, not counted again
        if known is not None:
            return known
        if not _slots.acquire(blocking=False):
            return Lookup(arxiv_id, "busy", BUSY_RETRY)
        done = _running[arxiv_id] = threading.Event()
    try:
        # A daemon thread, not a pool: a lookup stuck in arXiv's retries must not hold up shutdown.
        worker = threading.Thread(
            target=_look_up, args=(settings, arxiv_id, done), name=f"arxiv-lookup {arxiv_id}", daemon=True
        )
        worker.start()
    except BaseException:
        _finish(arxiv_id, done)
        raise
    return Lookup(arxiv_id, "pending")


def wait_for_lookups(arxiv_ids: Iterable[str], *, seconds: float) -> None:
    """Wait at most `seconds` in all for the background lookups of these ids to end."""
    deadline = time.monotonic() + seconds
    with _lock:
        events = [_running[i] for i in arxiv_ids if i in _running]
    for event in events:
        event.wait(max(deadline - time.monotonic(), 0))


def _outcome(arxiv_id: str) -> Lookup | None:
    # Called with _lock held.
    if arxiv_id in _running:
        return Lookup(arxiv_id, "pending")
    if arxiv_id in _found:
        return Lookup(arxiv_id, "found")
    if arxiv_id in _unknown:
        return Lookup(arxiv_id, "unknown")
    if arxiv_id in _failed:
        return Lookup(arxiv_id, "unreachable", _failed[arxiv_id])
    return None


def _look_up(settings: Settings, arxiv_id: str, done: threading.Event) -> None:
    try:
        if _fetch_and_store(settings, arxiv_id):
            with _lock:
                _found[arxiv_id] = True
    except FetchError as exc:
        _failed_now(arxiv_id, exc)
    except Exception:  # no caller to raise to in this thread: logged, and pollers are told it failed
        log.exception("looking up %s on arXiv failed", arxiv_id)
        with _lock:
            _failed[arxiv_id] = FAILED_TTL
    finally:
        _finish(arxiv_id, done)


def _finish(arxiv_id: str, done: threading.Event) -> None:
    with _lock:
        _running.pop(arxiv_id, None)
    _slots.release()
    done.set()


def _failed_now(arxiv_id: str, exc: FetchError) -> int:
    """Log a failed lookup and remember it for its Retry-After (returned): pages and the API alike."""
    log.warning("looking up %s on arXiv failed: %s", arxiv_id, exc)
    retry = max(int(exc.retry_after or FAILED_TTL), 1)
    with _lock:
        _failed[arxiv_id] = retry
    return retry


def _fetch_and_store(settings: Settings, arxiv_id: str) -> bool:
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
        upsert_papers(session, entries=entries, submission_dates=True)
    return True


def get_or_fetch_paper(
    session: Session, settings: Settings, arxiv_id: str, *, may_start: MayStart | None = None
) -> Paper | None:
    """The stored paper, else fetched from arXiv now (never for a venue id: arXiv has none of those)."""
    paper = get_paper(session, arxiv_id)
    if paper is None and not is_venue_id(arxiv_id) and fetch_paper(settings, arxiv_id, may_start=may_start):
        session.rollback()  # end the read snapshot so the row just committed is visible
        paper = get_paper(session, arxiv_id)
    return paper
