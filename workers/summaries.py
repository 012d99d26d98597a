"""The `summarize.paper` task: a thin wrapper of app.summarize's generation (app/summarize/dispatch.py
decides who generates a summary and sends this task by name)."""

from __future__ import annotations

from app.config import get_settings
from app.summarize.dispatch import SUMMARIZE_TASK
from app.summarize.generate import generate_summary
from workers.celery_app import app


@app.task(name=SUMMARIZE_TASK, acks_late=True)
def summarize_paper(summary_id: int) -> str:
    """Generate one summary (idempotent: a summary claimed elsewhere or done is skipped)."""
    return generate_summary(get_settings(), summary_id)
