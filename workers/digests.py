"""The `digest.send` task: every due profile's digest, once per profile, day and channel.

Sent after each day's embedding finishes (a digest ranks by the new papers' vectors), and by hand
with `coolpapers digest --send`. Running it again, retried, or beside another worker sends nothing
twice: app/profiles/deliver.py claims each delivery in the database before sending it.
"""

from __future__ import annotations

from typing import Any

from celery import Task
from celery.signals import task_success
from sqlalchemy.exc import OperationalError

from app.config import get_settings
from app.profiles.deliver import send_digests
from workers.celery_app import app

DIGEST_TASK = "digest.send"
MAX_RETRIES = 3


@app.task(name=DIGEST_TASK, bind=True, acks_late=True, max_retries=MAX_RETRIES)
def send_digests_task(self: Task) -> dict[str, Any]:
    """Compose and send the due digests; a database outage is retried with backoff."""
    settings = get_settings()
    try:
        report = send_digests(settings)
    except OperationalError as exc:
        raise self.retry(
            exc=exc, countdown=settings.task_retry_backoff * 2 ** int(self.request.retries)
        ) from exc
    return {
        "sent": report.sent,
        "skipped": report.skipped,
        "failed": report.failed,
        "summary": report.summary(),
    }


@task_success.connect
def _after_embedding(sender: Any = None, result: Any = None, **_: Any) -> None:
    """Once an `embed.papers` run leaves nothing unembedded, the day's papers can be ranked: send."""
    if (
        getattr(sender, "name", None) == "embed.papers"
        and isinstance(result, dict)
        and result.get("remaining") == 0
    ):
        send_digests_task.delay()
