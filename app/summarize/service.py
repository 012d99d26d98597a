"""FAQ summaries: requested by readers, generated once per (paper, model, prompt, language) by a worker.

The row in `summaries` is the single source of truth: its status (pending -> running -> ready |
failed), the answers so far (written as they stream in), the error. Readers poll it; the worker
that claims it (an atomic UPDATE) is the only one generating it, and says so by refreshing the
row's heartbeat every few seconds (app/summarize/heartbeat.py). A running row whose heartbeat is
older than SUMMARY_STALE_SECONDS lost its process (kill -9, OOM, a host gone): it is claimed again,
by one claimant only, or sent back to pending and dispatched again (`release_abandoned`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import SummaryLimitError
from app.store.backlog import abandoned
from app.store.models import Listing, Paper, Summary, Tldr, Translation, Upload
from app.store.papers import as_utc
from app.store.upsert import dialect_insert
from app.summarize.extractive import LABEL, extractive_faq
from app.summarize.prompts import FaqPrompt, load_prompt

FAILED_RETRY_AFTER = 600  # seconds before a failed summary may be generated again
LOST_AFTER = 120  # a pending row untouched this long lost its task: enqueue it again
SUMMARY_ATTEMPTS = 3  # generations a summary may lose to dead workers before it is failed


@dataclass(frozen=True, slots=True)
class FaqView:
    """What a reader sees of a summary, whatever produced it."""

    status: str  # ready | pending | running | failed
    answers: list[dict[str, str]]
    questions: tuple[str, ...]
    model: str
    prompt_version: str
    lang: str
    extractive: bool = False
    note: str | None = None
    error: str | None = None
    context: str | None = None
    summary_id: int | None = None
    queue_position: int | None = None
    retry_after: int | None = None  # failed: seconds before asking again regenerates it
    phase: str | None = None  # running: "fetching the PDF (attempt 2 of 5)", "question 2 of 6"
    context_reason: str | None = None  # why only the abstract was read ("the PDF could not be fetched")
    tokens: dict[str, int] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.status in ("ready", "failed")


def llm_configured(settings: Settings) -> bool:
    return bool(settings.llm_base_url and settings.llm_model)


def prompt_for(settings: Settings, lang: str) -> FaqPrompt:
    return load_prompt(lang, settings.llm_prompt_file)


def client_key(address: str | None) -> str:
    """A salted hash of the client's address: enough to count, not enough to identify."""
    return hashlib.sha256(f"coolpapers:{address or 'unknown'}".encode()).hexdigest()[:32]


def extractive_view(settings: Settings, paper: Paper, lang: str) -> FaqView:
    prompt = prompt_for(settings, lang)
    answers = extractive_faq(prompt, abstract=paper.abstract)
    return FaqView(
        "ready",
        answers,
        prompt.questions,
        "extractive",
        prompt.version,
        lang,
        True,
        LABEL,
        context="abstract",
    )


def view_of(session: Session, row: Summary, prompt: FaqPrompt) -> FaqView:
    position = None
    if row.status == "pending":
        position = session.scalar(
            select(func.count()).select_from(Summary).where(Summary.status == "pending", Summary.id < row.id)
        )
    return FaqView(
        status=row.status,
        answers=list(row.content or []),
        questions=prompt.questions,
        model=row.model,
        prompt_version=row.prompt_version,
        lang=row.lang,
        error=row.error,
        context=row.context,
        summary_id=row.id,
        queue_position=position,
        retry_after=failed_retry_after(row) if row.status == "failed" else None,
        phase=row.phase if row.status == "running" else None,
        context_reason=row.context_reason,
        tokens={"prompt": row.prompt_tokens, "completion": row.completion_tokens},
    )


def find_summary(session: Session, settings: Settings, *, paper: Paper, lang: str) -> Summary | None:
    return session.scalar(
        select(Summary).where(
            Summary.paper_id == paper.id,
            Summary.model == settings.llm_model,
            Summary.prompt_version == prompt_for(settings, lang).version,
            Summary.lang == lang,
        )
    )


def request_summary(
    session: Session, settings: Settings, *, paper: Paper, lang: str, requester: str, per_client: bool = True
) -> tuple[Summary, bool]:
    """The summary row for this paper, created if new (within the limits); and whether to enqueue it.

    Cached summaries are free. A failed one is regenerated on request once its cool-down is over.
    """
    now = dt.datetime.now(dt.UTC)
    row = find_summary(session, settings, paper=paper, lang=lang)
    if row is None:
        check_limits(session, settings, requester=requester if per_client else None, now=now)
        return _create(session, settings, paper=paper, lang=lang, requester=requester, now=now), True
    if row.status == "failed":
        if failed_retry_after(row, now) > 0:
            return row, False  # shown as failed, with when to ask again
        check_limits(session, settings, requester=requester, now=now)
        row.status, row.error, row.content, row.updated_at, row.requester = (
            "pending",
            None,
            [],
            now,
            requester,
        )
        session.flush()
        return row, True
    if row.status == "running" and is_abandoned(row, settings, now):
        # Taken back atomically: of the readers (and catch-up rounds) finding it abandoned, one sends it.
        released = row.id in release_abandoned(session, settings, now=now, ids=[row.id])[0]
        session.refresh(row)
        return row, released
    lost = row.status == "pending" and (now - as_utc(row.updated_at)).total_seconds() > LOST_AFTER
    return row, lost


def failed_retry_after(row: Summary, now: dt.datetime | None = None) -> int:
    """Seconds before a failed summary may be generated again (0: now)."""
    waited = ((now or dt.datetime.now(dt.UTC)) - as_utc(row.updated_at)).total_seconds()
    return max(int(FAILED_RETRY_AFTER - waited), 0) if row.status == "failed" else 0


def _create(
    session: Session, settings: Settings, *, paper: Paper, lang: str, requester: str, now: dt.datetime
) -> Summary:
    values: dict[str, object] = {
        "paper_id": paper.id, "model": settings.llm_model, "prompt_version": prompt_for(settings, lang).version,
        "lang": lang, "status": "pending", "content": [], "requester": requester, "attempts": 0,
        "prompt_tokens": 0, "completion_tokens": 0, "created_at": now, "updated_at": now,
    }  # fmt: skip
    # DO NOTHING: two readers asking at once create one row, and so one generation.
    session.execute(dialect_insert(session, Summary).values(**values).on_conflict_do_nothing())
    session.flush()
    row = find_summary(session, settings, paper=paper, lang=lang)
    assert row is not None
    return row


CLAIM_LOCK = 0x636F6F6C  # the PostgreSQL advisory lock serialising claims of new generations
# Its twin within a process, held from counting today's generations to committing the new rows: FAQs,
# TL;DRs and translations share one budget, so all their claims take this one lock (on SQLite it is the
# only serialisation; two locks let a FAQ and a TL;DR racing for the last place both take it).
CLAIMING = threading.Lock()


def check_limits(session: Session, settings: Settings, *, requester: str | None, now: dt.datetime) -> None:
    """Raise SummaryLimitError when today's new generations reach the global or per-client limit.

    Counting and creating the row must be one step, or 28 requests at once all see 19 and all start:
    on PostgreSQL the count waits for a transaction-scoped advisory lock, held until the caller commits
    the new row (web processes and workers alike); within a process the caller also holds CLAIMING,
    which is what serialises claims on SQLite.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(CLAIM_LOCK)))
    midnight = dt.datetime.combine(now.date(), dt.time(), dt.UTC)
    retry = int((midnight + dt.timedelta(days=1) - now).total_seconds()) + 1
    if generations_since(session, midnight) >= settings.summary_daily_limit:
        raise SummaryLimitError(
            "the daily budget of new summaries is spent; cached ones stay available", retry_after=retry
        )
    mine = generations_since(session, midnight, requester=requester) if requester else 0
    if requester and mine >= settings.summary_per_ip_limit:
        raise SummaryLimitError(
            "you have asked for many new summaries today; cached ones stay available", retry_after=retry
        )


def generations_since(session: Session, since: dt.datetime, *, requester: str | None = None) -> int:
    """Generations touched since `since` (overall, or one client's): FAQs, TL;DRs, translations and
    the FAQs of uploads by the site's model (theirs have a requester) share one budget, each row
    counted once whatever it is."""
    total = 0
    if requester is None:
        uploads = select(func.count()).select_from(Upload).where(Upload.requester.is_not(None))
        total += session.scalar(uploads.where(Upload.updated_at >= since)) or 0
    for model in (Summary, Tldr, Translation):
        stmt = select(func.count()).select_from(model).where(model.updated_at >= since)
        if requester is not None:
            stmt = stmt.where(model.requester == requester)
        total += session.scalar(stmt) or 0
    return total


def claim_summary(session: Session, settings: Settings, summary_id: int) -> int | None:
    """Atomically take a summary to generate it: pending, or running with a stale heartbeat (its
    process is gone) and attempts left. Returns the claim (the attempt number, which the generating
    process's writes must match), or None when someone else has it or it is done.

    One UPDATE with the condition in its WHERE: of two claimants, the second finds the row running
    with a fresh heartbeat (PostgreSQL re-checks the WHERE after the first one's lock), so never
    do two processes both generate.
    """
    now = dt.datetime.now(dt.UTC)
    stale_before = now - dt.timedelta(seconds=settings.summary_stale_seconds)
    claimed = session.execute(
        update(Summary)
        .where(
            Summary.id == summary_id,
            (Summary.status == "pending") | (abandoned(stale_before) & (Summary.attempts < SUMMARY_ATTEMPTS)),
        )
        .values(
            status="running",
            claimed_at=now,
            heartbeat_at=now,
            updated_at=now,
            attempts=Summary.attempts + 1,
            content=[],
            phase="starting",
            context_reason=None,
        )
        .returning(Summary.attempts)
    ).scalar_one_or_none()
    session.flush()
    return claimed


def is_abandoned(row: Summary, settings: Settings, now: dt.datetime | None = None) -> bool:
    """A running row whose generating process has not said it is alive for SUMMARY_STALE_SECONDS."""
    last_sign = as_utc(row.heartbeat_at or row.claimed_at)
    if row.status != "running" or last_sign is None:
        return False
    return ((now or dt.datetime.now(dt.UTC)) - last_sign).total_seconds() > settings.summary_stale_seconds


def release_abandoned(
    session: Session, settings: Settings, *, now: dt.datetime | None = None, ids: list[int] | None = None
) -> tuple[list[int], list[int]]:
    """Take back the abandoned summaries (all, or those of `ids`): (sent back to pending, failed).

    Each is its UPDATE's: a row another caller took back meanwhile is no longer running, so whoever
    gets its id back is the one to dispatch it. A summary that lost SUMMARY_ATTEMPTS generations
    already is failed with a reason, not tried again. Its partial answers go: the reader sees the
    generation start over, not a stream that never moves.
    """
    now = now or dt.datetime.now(dt.UTC)
    which = abandoned(now - dt.timedelta(seconds=settings.summary_stale_seconds))
    if ids is not None:
        which = which & Summary.id.in_(ids)
    return take_back(session, Summary, which, now=now, content=[])


TakenBack = type[Summary] | type[Tldr] | type[Translation]


def take_back(
    session: Session, model: TakenBack, which: ColumnElement[bool], *, now: dt.datetime, **reset: object
) -> tuple[list[int], list[int]]:
    """The `which` rows of `model`, whose worker is gone: (pending again, with `reset` written; failed).

    A row that lost SUMMARY_ATTEMPTS generations already is failed with a reason, not tried again.
    """
    reason = f"generation interrupted {SUMMARY_ATTEMPTS} times (its worker stopped); ask again later"
    failed = session.scalars(
        update(model)
        .where(which, model.attempts >= SUMMARY_ATTEMPTS)
        .values(status="failed", error=reason, updated_at=now)
        .returning(model.id)
    ).all()
    released = session.scalars(
        update(model)
        .where(which, model.attempts < SUMMARY_ATTEMPTS)
        .values(status="pending", updated_at=now, **reset)
        .returning(model.id)
    ).all()
    session.flush()
    return sorted(released), sorted(failed)


def generating(session: Session, settings: Settings, *, now: dt.datetime) -> dict[int, float]:
    """Running summaries with a fresh heartbeat: id -> seconds before it goes stale if it stops."""
    rows = session.execute(
        select(Summary.id, Summary.heartbeat_at, Summary.claimed_at).where(Summary.status == "running")
    ).all()
    left = {}
    for summary_id, heartbeat_at, claimed_at in rows:
        last_sign = as_utc(heartbeat_at or claimed_at)
        if last_sign is not None:
            remaining = settings.summary_stale_seconds - (now - last_sign).total_seconds()
            if remaining >= 0:
                left[summary_id] = remaining
    return left


def priority_of(session: Session, paper_id: int) -> int:
    """0 (first) for papers of the latest announcement day, 6 for older ones (Redis: lower is sooner)."""
    latest = session.scalar(select(func.max(Listing.announced_on)))
    listed = session.scalar(
        select(Listing.id).where(Listing.paper_id == paper_id, Listing.announced_on == latest).limit(1)
    )
    return 0 if listed is not None else 6


def cached_faqs(
    session: Session, paper_ids: list[int], *, lang: str = "en"
) -> dict[int, list[dict[str, str]]]:
    """Ready summaries of these papers (any model; the newest), for feeds."""
    if not paper_ids:
        return {}
    rows = session.execute(
        select(Summary.paper_id, Summary.content)
        .where(Summary.paper_id.in_(paper_ids), Summary.status == "ready", Summary.lang == lang)
        .order_by(Summary.updated_at)
    )
    return {paper_id: list(content or []) for paper_id, content in rows}
