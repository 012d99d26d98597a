"""The `fetch.digest` task (on the fetch queue: task names are `<queue>.<verb>`): every due profile's
digest, once per profile, day and channel.

Sent after each day's embedding finishes (a digest ranks by the new papers' vectors), and by hand
with `coolpapers digest --send`. Running it again, retried, or beside another worker sends nothing
twice: app/profiles/deliver.py claims each delivery in the database before sending it.
"""

from __future__ import annotations

from typing import Any

from celery.signals import task_success

from app.config import get_settings
from app.profiles.deliver import send_digests
from workers.celery_app import app
from workers.tasks import TransientRetryTask

DIGEST_TASK = "fetch.digest"


@app.task(name=DIGEST_TASK, base=TransientRetryTask)
def send_digests_task() -> dict[str, Any]:
    """Compose and send the due digests; a database outage is retried with backoff."""
    report = send_digests(get_settings())
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
