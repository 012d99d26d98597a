"""/api/v1/papers/{arxiv_id}/summary: the FAQ, cached or generated (202 while pending; SSE).

GET reads it; POST starts a generation when there is none. A generation costs money, and another
site's page can make a reader's browser GET any URL (an image), so a GET starts one only when this
site's own page asks (Sec-Fetch-Site: same-origin, as its EventSource does); a POST from another
site's page is refused.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from app.api.papers import normalise_id
from app.api.schemas import INVALID_INPUT, ErrorOut
from app.config import Settings
from app.deps import SessionDep, SettingsDep
from app.errors import NotFoundError
from app.ratelimit import client_address, rate_limit
from app.security import refuse_cross_site, same_origin
from app.store.papers import get_paper
from app.summarize.dispatch import open_faq, peek_faq
from app.summarize.render import render_markdown
from app.summarize.service import FaqView
from app.summarize.watch import follow_faq, stream_slots

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


_RESPONSES: dict[int | str, dict[str, object]] = {
    202: {"model": SummaryOut},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
    429: {"model": ErrorOut},
    503: {"model": SummaryOut},
}
Lang = Literal["en", "zh"]
Stream = Annotated[bool, Query(description="server-sent events as the answers are written")]


@router.get("/papers/{arxiv_id:path}/summary", dependencies=[summary_limit], responses=_RESPONSES)
def read_summary(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    arxiv_id: str,
    lang: Lang = "en",
    stream: Stream = False,
) -> Response:
    """The paper's FAQ: 200 when ready, 202 while it is written, 503 (with the reason and Retry-After)
    when the last generation failed, 404 when none was asked for (POST starts one); `stream=true` for
    server-sent events. Asked by this site's own pages, a GET starts the generation too."""
    start = same_origin(request)
    return _summary(request, session, settings, arxiv_id, lang=lang, stream=stream, start=start)


@router.post(
    "/papers/{arxiv_id:path}/summary",
    dependencies=[summary_limit, Depends(refuse_cross_site)],
    responses=_RESPONSES,
)
def start_summary(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    arxiv_id: str,
    lang: Lang = "en",
    stream: Stream = False,
) -> Response:
    """Start the paper's FAQ if it is new (within the limits), then answer as GET does."""
    return _summary(request, session, settings, arxiv_id, lang=lang, stream=stream, start=True)


def _summary(
    request: Request,
    session: Session,
    settings: Settings,
    arxiv_id: str,
    *,
    lang: str,
    stream: bool,
    start: bool,
) -> Response:
    paper = get_paper(session, normalise_id(arxiv_id))
    if paper is None:
        raise NotFoundError(f"paper {arxiv_id} is not in this instance")
    address = client_address(request)
    with stream_slots.taken(settings, address) if stream else nullcontext() as slot:
        found = peek_faq(session, settings, paper=paper, lang=lang) if not start else None
        if not start and found is None:
            raise NotFoundError(f"no summary of {paper.arxiv_id} yet: POST to this URL to start one")
        view = found or open_faq(session, settings, paper=paper, lang=lang, client_address=address)
    if slot:
        session.close()  # the stream reads through the process's poller: no connection held meanwhile
        events = slot.hold_while(_sse(each) async for each in follow_faq(settings, view))
        return StreamingResponse(events, media_type="text/event-stream", headers=_NO_BUFFER)
    body = summary_out(view).model_dump(mode="json")
    if view.status == "failed":  # never shown as a summary: an error status with the reason
        return JSONResponse(
            body, status_code=503, headers={"Retry-After": str(max(view.retry_after or 0, 1))}
        )
    return JSONResponse(body, status_code=200 if view.done else 202)


_NO_BUFFER = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _sse(view: FaqView) -> str:
    return f"event: summary\ndata: {json.dumps(summary_out(view).model_dump(mode='json'))}\n\n"
