"""app.jobs, the seam between the web tier and Celery: tasks sent by name, the web tier free of Celery."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.config import Settings
from app.jobs import jobs, queue_depths
from app.summarize.dispatch import SUMMARIZE_TASK
from tests.workers.conftest import ROOT, client_app
from workers.celery_app import CeleryJobs, failure_line


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_web_tier_loads_neither_celery_nor_the_workers() -> None:
    done = _run(
        "import sys, app.web.pages, app.web.faq, app.api.admin, app.api.status, app.api.summaries\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'celery', 'kombu', 'workers'}))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_without_the_celery_app_jobs_say_how_to_get_one() -> None:
    done = _run("from app.jobs import jobs\njobs()")
    assert done.returncode == 1
    assert "RuntimeError: no job queue installed: import workers.celery_app first" in done.stderr


def test_loading_the_celery_app_installs_it_behind_app_jobs() -> None:
    assert isinstance(jobs(), CeleryJobs)


def test_a_task_name_outside_the_queues_is_refused() -> None:
    with pytest.raises(ValueError, match=r"no queue for task 'admin.drop'"):
        jobs().send("admin.drop")
    with pytest.raises(ValueError, match=r"no task named 'fetch.nothing'"):
        jobs().send("fetch.nothing")  # eager here (no REDIS_URL): the task must exist in-process


def test_a_job_sent_by_name_waits_in_its_queue_with_its_priority(
    settings_env: Settings, redis_url: str
) -> None:
    """Through a real Redis and no worker: the message lands in the task's queue, PENDING."""
    settings = settings_env.model_copy(update={"redis_url": redis_url})
    client = client_app(settings)
    try:
        sent = CeleryJobs(client).send(SUMMARIZE_TASK, 7, priority=3)
        assert sent.state == "PENDING" and sent.result is None and sent.error is None
        assert CeleryJobs(client).state(sent.job_id).state == "PENDING"
    finally:
        client.close()
    assert queue_depths(settings) == {"fetch": 0, "embed": 0, "summarize": 1}


@pytest.mark.parametrize(
    ("value", "line"),
    [
        (RuntimeError("feed refused\nTraceback ..."), "feed refused"),
        (TimeoutError(), "TimeoutError"),  # an exception that says nothing: its type (was an IndexError)
        ("", "failed"),
        ("  \n", "failed"),
    ],
)
def test_a_failed_jobs_error_is_one_line_whatever_it_carries(value: object, line: str) -> None:
    assert failure_line(value) == line
