"""Follow a summary while a worker writes it: poll its row, yield each new state until it is done."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from anyio import to_thread

from app.config import Settings
from app.store.db import session_scope
from app.store.models import Summary
from app.summarize.prompts import FaqPrompt
from app.summarize.service import FaqView, view_of

POLL_SECONDS = 0.02  # one primary-key read: cheap, and keeps the added latency under ~20 ms
MAX_WAIT = 1800.0


def read_view(settings: Settings, summary_id: int, prompt: FaqPrompt) -> FaqView | None:
    with session_scope(settings) as session:
        row = session.get(Summary, summary_id)
        return None if row is None else view_of(session, row, prompt)


async def watch_summary(settings: Settings, summary_id: int, prompt: FaqPrompt) -> AsyncIterator[FaqView]:
    """Yield the summary's view whenever it changes, ending with a done (ready / failed) one."""
    last: tuple[object, ...] | None = None
    waited = 0.0
    while waited < MAX_WAIT:
        view = await to_thread.run_sync(read_view, settings, summary_id, prompt)
        if view is None:
            return
        key = (
            view.status,
            len(view.answers),
            view.answers[-1]["answer"] if view.answers else "",
            view.queue_position,
        )
        if key != last:
            last = key
            yield view
        if view.done:
            return
        await asyncio.sleep(POLL_SECONDS)
        waited += POLL_SECONDS
