"""`fetch.venue`: refresh one venue edition (`ICLR.2025`) from its source, then embed what changed.

Beat sends it for each edition named in the VENUES setting (workers/schedule.py). Idempotent: the
edition is stored at once or not at all (a CVF or NeurIPS edition's listing and the abstracts read
so far when it is stopped), a rerun asks with the last validators (an unchanged edition costs one
304) and never refetches an abstract already stored.
"""

from __future__ import annotations

from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from app.config import get_settings
from app.errors import VenueFetchError
from app.store.venue_ingest import ingest_edition
from app.venues.catalog import find_edition
from workers.celery_app import app
from workers.schedule import VENUE_TASK
from workers.tasks import TRANSIENT_ERRORS, TransientRetryTask, embed_papers


class VenueRetryTask(TransientRetryTask):
    """A source away (after the client's own retries) is worth another try later, as arXiv is; so is
    an edition whose ~2,000 abstract pages outlast the soft time limit (each try keeps what it read
    and the next reads only what is missing: app/store/venue_ingest.py)."""

    autoretry_for: tuple[type[BaseException], ...] = (
        *TRANSIENT_ERRORS,
        VenueFetchError,
        SoftTimeLimitExceeded,
    )  # type: ignore[assignment]


@app.task(name=VENUE_TASK, base=VenueRetryTask)
def refresh_venue(edition: str) -> dict[str, Any]:
    """Fetch and store one edition; queue `embed.papers` for its new and changed papers."""
    report = ingest_edition(get_settings(), find_edition(edition))
    if report.stats.changed_ids:
        embed_papers.delay(list(report.stats.changed_ids))
    return {"edition": report.edition, "not_modified": report.not_modified, "summary": report.summary(),
            "new": report.stats.new, "updated": report.stats.updated}  # fmt: skip
