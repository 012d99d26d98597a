"""A summarize worker killed whole mid-generation: its summary is completed, once, soon after a restart.

The worker generating a summary refreshes its heartbeat; killed with kill -9 (both processes), it
leaves the summary "running" with a heartbeat that goes stale after SUMMARY_STALE_SECONDS (default
30). The restarted worker's catch-up round gives back the dead worker's message (which finds the
heartbeat still fresh, and ends) and asks again once the heartbeat is stale: the summary is claimed
again and generated, by one worker, within the issue's minute (before: TASK_TIME_LIMIT, 20 minutes).
Against a slow loopback OpenAI-compatible model (tests/llm_server.py); the deployment is conftest's.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from app.arxiv.parse import parse_feed
from app.config import Settings
from app.store.db import session_scope
from app.store.ingest import ingest_feed
from app.store.models import Paper, Summary
from app.summarize.prompts import load_prompt
from app.summarize.service import request_summary
from tests.llm_server import FakeLLMServer
from tests.topology.conftest import Deployment, measure
from tests.workers.conftest import FEED, FEED_IDS, wait_for

pytestmark = pytest.mark.timeout(240)  # starting the deployment included
RESUME_WITHIN = 60.0  # seconds from the worker's restart to the summary done (the bound)
MODEL = "fake-llm"


@pytest.fixture(scope="module")
def slow_llm() -> Iterator[FakeLLMServer]:
    # One word every 0.1 s: an answer takes about a second, a whole FAQ several.
    with FakeLLMServer(model=MODEL, chunk_words=1, chunk_delay=0.1) as server:
        yield server


def _llm_env(llm: FakeLLMServer) -> dict[str, str]:
    return {
        "LLM_BASE_URL": llm.base_url,
        "LLM_MODEL": MODEL,
        "SUMMARY_FULL_TEXT": "false",
        "LLM_RETRIES": "0",
    }


def _requested(settings: Settings) -> int:
    """A reader's request for the first paper's FAQ, as open_faq stores it (the paper stored first)."""
    with session_scope(settings) as session:
        ingest_feed(session, feed=parse_feed(FEED))
    with session_scope(settings) as session:
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == FEED_IDS[0]))
        assert paper is not None
        row, enqueue = request_summary(session, settings, paper=paper, lang="en", requester="topology")
        assert enqueue and row.status == "pending"
        return row.id


def _summary(settings: Settings, summary_id: int) -> Summary:
    with session_scope(settings) as session:
        row = session.get(Summary, summary_id)
        assert row is not None
        session.expunge(row)
        return row


def test_a_killed_summarize_worker_s_summary_is_done_once_soon_after_its_restart(
    deployment: Deployment, slow_llm: FakeLLMServer
) -> None:
    settings = deployment.settings.model_copy(update={"llm_base_url": slow_llm.base_url, "llm_model": MODEL})
    questions = len(load_prompt("en", None).questions)
    summary_id = _requested(settings)
    deployment.worker("summarizer", "fetch,summarize", **_llm_env(slow_llm))
    deployment.client.send_task("summarize.paper", args=[summary_id], priority=0)  # type: ignore[union-attr]

    # Killed whole (the main process and its pool) while the first answer streams in.
    def streaming() -> bool:
        row = _summary(settings, summary_id)
        return row.status == "running" and bool(row.content)

    wait_for(streaming, timeout=60, what="the generation streaming", logs=deployment.logs)
    deployment.procs["summarizer"].kill_tree(signal.SIGKILL)
    deployment.procs["summarizer"].stop()
    begun = slow_llm.started
    row = _summary(settings, summary_id)
    assert (row.status, row.attempts) == ("running", 1), "the generation ended before the kill"

    started = time.monotonic()
    deployment.worker("summarizer", "fetch,summarize", **_llm_env(slow_llm))

    def finished() -> Summary | None:
        row = _summary(settings, summary_id)
        return row if row.status in ("ready", "failed") else None

    done = wait_for(
        finished,
        timeout=RESUME_WITHIN,
        what="the interrupted summary done",
        logs=deployment.logs,
    )
    measure("summarize worker restart -> interrupted summary done", started)
    assert (done.status, done.attempts, len(done.content)) == ("ready", 2, questions), done.error
    assert slow_llm.started - begun == questions  # generated once after the restart: no question twice

    # Neither the dead worker's message (given back at the restart) nor the catch-up's second look
    # generates it again.
    time.sleep(3)
    again = _summary(settings, summary_id)
    assert (again.status, again.attempts, again.updated_at) == ("ready", 2, done.updated_at)
    assert slow_llm.started - begun == questions
    assert "taken over" not in deployment.procs["summarizer"].log.read_text(errors="replace")
