"""The catch-up round: send again the work a killed worker took with it.

A worker killed whole (kill -9, an OOM kill, a host lost) leaves its task's message unacknowledged
in Redis until the visibility timeout (an hour), and the work undone. Every task being idempotent,
running it again is safe, so a round:

- puts back in their queue the unacknowledged messages that no live worker holds (the workers are
  asked, over the broker, which tasks they run, hold or keep for later) - whatever the task was;
- and, in case a message was lost some other way, sends what the database says is owed:

- papers without a vector -> `embed.papers(None)` (embeds everything missing, once);
- categories whose latest scheduled fetch round (due over ten minutes ago) never ran -> `fetch.category`;
- summaries whose heartbeat is older than SUMMARY_STALE_SECONDS (their process is gone: a live one
  beats every few seconds) -> back to pending and `summarize.paper` again, or `failed` with a reason
  after SUMMARY_ATTEMPTS tries; pending ones older than TASK_TIME_LIMIT, while nothing waits in the
  summarize queue, are sent again;
- summaries running with a fresh heartbeat -> `summarize.paper` once more, due when that heartbeat
  would go stale: a worker killed just before this round leaves a heartbeat too young to judge, and
  its summary is then claimed again (the task of a live one finds it fresh or done, and ends).
- TL;DRs and translations claimed over TASK_TIME_LIMIT ago -> back to pending and sent again, or
  `failed` after SUMMARY_ATTEMPTS tries; pending ones as old, while nothing waits in the summarize
  queue, are sent again (app/summarize/generations.py `release_lost`);
- readers' uploaded PDFs and their FAQs older than UPLOAD_KEEP_HOURS -> deleted (they are hidden
  from readers from then on anyway; this is what keeps them from staying in the database).

It runs when any worker starts (`worker_ready`, workers/celery_app.py) and every CATCHUP_SECONDS
from beat (workers/schedule.py).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from typing import Any

from sqlalchemy.orm import Session

from app.config import Settings, get_settings
from app.jobs import queue_depths, redis_client
from app.store.backlog import stuck_summaries, unembedded_papers
from app.store.db import session_scope
from app.store.fetch_log import last_runs
from app.store.models import Tldr, Translation
from app.store.papers import as_utc
from app.summarize.dispatch import STALE_MARGIN, SUMMARIZE_TASK
from app.summarize.generations import release_lost
from app.summarize.service import generating, release_abandoned
from app.summarize.tldr import TLDR_TASK
from app.summarize.translate import TRANSLATE_TASK
from app.summarize.uploads import purge_uploads
from workers.celery_app import app
from workers.schedule import CATCHUP_TASK, previous_run
from workers.tasks import TransientRetryTask, round_categories

log = logging.getLogger(__name__)
DELIVERY_MARGIN = 1.0  # seconds: a message delivered this long before the question is registered
INSPECT_TIMEOUT = 1.5  # seconds the workers have to answer (a ping, then what they hold)
ROUND_GRACE = dt.timedelta(minutes=10)  # a round due more recently may still be on its way (3 s a fetch)
# A missed category is sent once per ROUND_GRACE by all catch-up rounds together: each worker sends
# a round when it starts, and two started together (as Compose starts them) fetched it twice at once.
SENT_KEY = "coolpapers:catchup:sent:{category}"


@app.task(name=CATCHUP_TASK, base=TransientRetryTask)
def catch_up() -> dict[str, Any]:
    """Send again what is owed: vectors, missed fetch rounds, lost summaries, TL;DRs and translations
    (idempotent)."""
    settings = get_settings()
    restored = restore_orphans()
    now = dt.datetime.now(dt.UTC)
    depths = queue_depths(settings)
    with session_scope(settings) as session:
        unembedded, _ = unembedded_papers(session, model=settings.embed_model)
        missed = missed_categories(session, settings, now=now)
        busy = bool(depths.get("summarize"))
        retry, failed, watched = owed_summaries(session, settings, now=now, queue_busy=busy)
        tldrs, failed_tldrs = release_lost(session, settings, Tldr, now=now, queue_busy=busy)
        translations, failed_translations = release_lost(
            session, settings, Translation, now=now, queue_busy=busy
        )
        purged = purge_uploads(session, settings)  # readers' PDFs and FAQs past UPLOAD_KEEP_HOURS
    if unembedded and not depths.get("embed"):
        app.send_task("embed.papers", args=[None])
    missed = [category for category in missed if _first_to_send(settings, category)]
    for category in missed:
        app.send_task("fetch.category", args=[category])
    for summary_id in retry:
        app.send_task(SUMMARIZE_TASK, args=[summary_id], priority=0)
    for summary_id, countdown in watched.items():
        app.send_task(SUMMARIZE_TASK, args=[summary_id], priority=0, countdown=countdown)
    for task, ids in ((TLDR_TASK, tldrs), (TRANSLATE_TASK, translations)):
        for row_id in ids:
            app.send_task(task, args=[row_id], priority=0)
    report = {
        "restored": restored, "unembedded": unembedded, "categories": missed, "summaries": retry, "failed": failed,
        "watched": sorted(watched), "purged_uploads": purged, "tldrs": tldrs, "translations": translations,
        "failed_tldrs": failed_tldrs, "failed_translations": failed_translations,
    }  # fmt: skip
    if restored or unembedded or missed or retry or failed or tldrs or translations:
        log.warning("catching up", extra=report)
    return report


def _first_to_send(settings: Settings, category: str) -> bool:
    """Whether no other round sent this category's fetch within ROUND_GRACE (one Redis SET NX)."""
    if not settings.redis_url:
        return True
    key = SENT_KEY.format(category=category)
    return bool(redis_client(settings.redis_url).set(key, 1, nx=True, ex=int(ROUND_GRACE.total_seconds())))


def owed_summaries(
    session: Session, settings: Settings, *, now: dt.datetime, queue_busy: bool
) -> tuple[list[int], list[int], dict[int, float]]:
    """The summaries to send again: (now, failed instead, later: id -> countdown in seconds).

    Abandoned ones (stale heartbeat) go back to pending and are sent now; pending ones older than
    TASK_TIME_LIMIT too, unless the summarize queue holds messages (then they are waiting, not lost).
    Running ones with a fresh heartbeat are checked again just after it would go stale.
    """
    retry, failed = release_abandoned(session, settings, now=now)
    if not queue_busy:
        retry += stuck_summaries(
            session,
            stale_before=now - dt.timedelta(seconds=settings.summary_stale_seconds),
            pending_before=now - dt.timedelta(seconds=settings.task_time_limit),
        )[1]
    later = {i: left + STALE_MARGIN for i, left in generating(session, settings, now=now).items()}
    return retry, failed, later


def restore_orphans() -> list[str]:
    """Unacknowledged messages that no live worker holds go back to their queue, as kombu does
    itself after the visibility timeout; returns their task ids.

    Only messages delivered before the workers were asked count (less a margin: a worker registers
    a message it receives at once), so one delivered meanwhile is never taken from a live worker.
    """
    delivered_before = time.time() - DELIVERY_MARGIN
    held = held_tasks()
    restored = []
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        client = channel.client
        for tag in client.zrangebyscore(channel.unacked_index_key, "-inf", delivered_before):
            raw = client.hget(channel.unacked_key, tag)
            if raw is None:
                continue  # acknowledged meanwhile
            task_id = json.loads(raw)[0].get("headers", {}).get("id")
            if task_id in held:
                continue
            channel.qos.restore_by_tag(tag, client)  # one Redis transaction, as kombu's own restore
            restored.append(str(task_id))
    return restored


def held_tasks() -> set[str]:
    """Ids of the tasks the live workers run, have reserved, or keep for a later time (retries)."""
    # The live workers first, so that each question below returns once they all have answered.
    alive = len(app.control.ping(timeout=INSPECT_TIMEOUT) or [])
    inspect = app.control.inspect(timeout=INSPECT_TIMEOUT, limit=alive or None)
    held: set[str] = set()
    for answer in (inspect.active(), inspect.reserved(), inspect.scheduled()):
        for tasks in (answer or {}).values():
            for task in tasks:
                held.add(str(task.get("id") or task.get("request", {}).get("id")))
    return held


def missed_categories(session: Session, settings: Settings, *, now: dt.datetime) -> list[str]:
    """Categories of the round whose latest fetch started before the latest scheduled round."""
    due = previous_run(settings, now=now)
    if due is None or now - due < ROUND_GRACE:
        return []
    started = {name: as_utc(run.started_at) for name, run in last_runs(session).items()}
    return [
        name for name in round_categories(session, settings) if (at := started.get(name)) is None or at < due
    ]
