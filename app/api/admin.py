"""Admin actions behind the bearer token: enqueue an ingest or a reindex, follow a task."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.api.schemas import ADMIN_REFUSED, BAD_BODY, INVALID_INPUT
from app.deps import AdminDep, IsoDate
from app.jobs import JobState, jobs
from app.store.ingest import checked_category

router = APIRouter(
    prefix="/admin", tags=["admin"], dependencies=[AdminDep], responses=INVALID_INPUT | ADMIN_REFUSED
)


class IngestIn(BaseModel):
    category: str = Field(min_length=1, max_length=40, examples=["cs.CL"])
    date: IsoDate | None = Field(
        None, description="refuse the feed unless it announces this day (YYYY-MM-DD)"
    )


class TaskOut(BaseModel):
    task_id: str
    state: str  # PENDING | STARTED | RETRY | SUCCESS | FAILURE
    result: Any = None
    error: str | None = None


def _task_out(job: JobState) -> TaskOut:
    return TaskOut(task_id=job.job_id, state=job.state, result=job.result, error=job.error)


@router.post("/ingest", status_code=202, responses=BAD_BODY)
def enqueue_ingest(body: IngestIn) -> TaskOut:
    """Queue `fetch.category` for one category (today's feed); returns the task to follow."""
    category = checked_category(body.category)
    return _task_out(jobs().send("fetch.category", category, body.date.isoformat() if body.date else None))


@router.post("/reindex", status_code=202)
def enqueue_reindex() -> TaskOut:
    """Queue a rebuild of the FAISS index from the embeddings table (on the `embed` queue)."""
    return _task_out(jobs().send("embed.reindex"))


@router.get("/tasks/{task_id}")
def read_task(task_id: str) -> TaskOut:
    """The state of a task queued by an admin action (PENDING also means unknown)."""
    return _task_out(jobs().state(task_id))
