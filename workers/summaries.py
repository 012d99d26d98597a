"""The `summarize.*` tasks: thin wrappers of app.summarize's generations (app/summarize/dispatch.py,
tldr.py and translate.py decide who generates what and send these tasks by name)."""

from __future__ import annotations

import datetime as dt

from app.config import get_settings
from app.summarize.dispatch import SUMMARIZE_TASK
from app.summarize.generate import generate_summary
from app.summarize.tldr import TLDR_DAY_TASK, TLDR_TASK, generate_tldr, write_day_tldrs
from app.summarize.translate import TRANSLATE_TASK, generate_translation
from workers.celery_app import app


@app.task(name=SUMMARIZE_TASK, acks_late=True)
def summarize_paper(summary_id: int) -> str:
    """Generate one summary (idempotent: a summary claimed elsewhere or done is skipped)."""
    return generate_summary(get_settings(), summary_id)


@app.task(name=TLDR_TASK, acks_late=True)
def tldr_paper(tldr_id: int) -> str:
    """Write one TL;DR (idempotent: one claimed elsewhere or done is skipped)."""
    return generate_tldr(get_settings(), tldr_id)


@app.task(name=TLDR_DAY_TASK, acks_late=True)
def tldrs_of_day(category: str, day: str) -> int:
    """Queue the TL;DRs of a category's day's top new papers (TLDR_TOP), within the daily limit."""
    return write_day_tldrs(get_settings(), category=category, day=dt.date.fromisoformat(day))


@app.task(name=TRANSLATE_TASK, acks_late=True)
def translate_paper(translation_id: int) -> str:
    """Write one translation (idempotent: one claimed elsewhere or done is skipped)."""
    return generate_translation(get_settings(), translation_id)
