"""GET /api/v1/papers/{arxiv_id}/summary: the FAQ, cached or generated (202 while pending; SSE)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel

from app.api.papers import normalise_id
from app.api.schemas import INVALID_INPUT, ErrorOut
from app.deps import SessionDep, SettingsDep
from app.errors import NotFoundError
from app.ratelimit import rate_limit
from app.store.papers import get_paper
from app.summarize.render import render_markdown
from app.summarize.service import FaqView, prompt_for
from app.summarize.watch import watch_summary
from workers.summaries import open_faq

router = APIRouter(tags=["summaries"], responses=INVALID_INPUT)
summary_limit = Depends(rate_limit("summary", lambda s: s.rate_summary_per_minute))


class AnswerOut(BaseModel):
    question: str
    answer: str  # Markdown as the model wrote it (untrusted: render it safely)
    html: str  # the same, rendered server-side and sanitised


class SummaryOut(BaseModel):
    status: str  # ready | pending | running | failed
    answers: list[AnswerOut]
    questions: list[str]
    model: str
    prompt_version: str
    lang: str
    extractive: bool
    note: str | None
    error: str | None
    context: str | None  # "full text" or "abstract": what the model read
    queue_position: int | None


def summary_out(view: FaqView) -> SummaryOut:
    answers = [
        AnswerOut(question=a["question"], answer=a["answer"], html=str(render_markdown(a["answer"])))
        for a in view.answers
    ]
    return SummaryOut(
        status=view.status, answers=answers, questions=list(view.questions), model=view.model,
        prompt_version=view.prompt_version, lang=view.lang, extractive=view.extractive, note=view.note,
        error=view.error, context=view.context, queue_position=view.queue_position,
    )  # fmt: skip


@router.get(
    "/papers/{arxiv_id:path}/summary",
    dependencies=[summary_limit],
    responses={
        202: {"model": SummaryOut},
        404: {"model": ErrorOut},
        429: {"model": ErrorOut},
        503: {"model": SummaryOut},
    },
)
def read_summary(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    arxiv_id: str,
    lang: Literal["en", "zh"] = "en",
    stream: Annotated[bool, Query(description="server-sent events as the answers are written")] = False,
) -> Response:
    """The paper's FAQ: 200 when ready, 202 while it is written (queued if new), 503 (with the reason
    and Retry-After) when the last generation failed; `stream=true` for server-sent events."""
    paper = get_paper(session, normalise_id(arxiv_id))
    if paper is None:
        raise NotFoundError(f"paper {arxiv_id} is not in this instance")
    client = request.client.host if request.client else None
    view = open_faq(session, settings, paper=paper, lang=lang, client_address=client)
    if stream:
        return StreamingResponse(
            _events(settings, view, lang), media_type="text/event-stream", headers=_NO_BUFFER
        )
    body = summary_out(view).model_dump(mode="json")
    if view.status == "failed":  # never shown as a summary: an error status with the reason
        return JSONResponse(
            body, status_code=503, headers={"Retry-After": str(max(view.retry_after or 0, 1))}
        )
    return JSONResponse(body, status_code=200 if view.done else 202)


_NO_BUFFER = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def _events(settings: SettingsDep, first: FaqView, lang: str) -> AsyncIterator[str]:
    if first.done or first.summary_id is None:
        yield _sse(first)
        return
    async for view in watch_summary(settings, first.summary_id, prompt_for(settings, lang)):
        yield _sse(view)


def _sse(view: FaqView) -> str:
    return f"event: summary\ndata: {json.dumps(summary_out(view).model_dump(mode='json'))}\n\n"
