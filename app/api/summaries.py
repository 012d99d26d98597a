"""/api/v1/papers/{arxiv_id}/summary: the FAQ, cached or generated (202 while pending; SSE).

GET reads it; POST starts a generation when there is none. A generation costs money, and another
site's page can make a reader's browser GET any URL (an image), so a GET starts one only when this
site's own page asks (Sec-Fetch-Site: same-origin, as its EventSource does); a POST from another
site's page is refused.

A POST carrying the reader's own model (X-LLM-Base-URL, X-LLM-Key, X-LLM-Model; app/summarize/ownfaq.py)
streams the shared FAQ when it is written, else one the reader's model writes for them alone: nothing
stored, the shared daily limit not applied (`own_model` true in its events).
"""

from __future__ import annotations

import json
import re
from contextlib import nullcontext
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from app.api.papers import normalise_id
from app.api.schemas import INVALID_INPUT, ErrorOut
from app.config import Settings
from app.deps import SessionDep, SettingsDep
from app.errors import InvalidQueryError, NotFoundError
from app.ratelimit import client_address, rate_limit
from app.security import refuse_cross_site, same_origin
from app.store.papers import stored_paper
from app.summarize.dispatch import open_faq, peek_faq
from app.summarize.ownfaq import open_own_faq
from app.summarize.ownkey import ReaderLLM, reader_llm
from app.summarize.render import render_markdown, render_markdown_uncached
from app.summarize.service import FaqView
from app.summarize.translate import check_language
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
    context_reason: str | None = None  # why only the abstract was read, when it was
    queue_position: int | None
    # While running: what it does now ("fetching the PDF (attempt 2 of 5)", "question 2 of 6"), and
    # the questions answered so far out of how many the prompt asks.
    phase: str | None = None
    answered: int = 0
    total_questions: int = 0
    own_model: bool = False  # written by the reader's own model, for them alone (never stored)


def summary_out(view: FaqView, *, own: bool = False) -> SummaryOut:
    render = render_markdown_uncached if own else render_markdown  # one reader's text: not kept
    answers = [
        AnswerOut(question=a["question"], answer=a["answer"], html=str(render(a["answer"])))
        for a in view.answers
    ]
    return SummaryOut(
        status=view.status, answers=answers, questions=list(view.questions), model=view.model,
        prompt_version=view.prompt_version, lang=view.lang, extractive=view.extractive, note=view.note,
        error=view.error, context=view.context, queue_position=view.queue_position,
        context_reason=view.context_reason, phase=view.phase, answered=_answered(view),
        total_questions=len(view.questions), own_model=own,
    )  # fmt: skip


def _answered(view: FaqView) -> int:
    """Answers complete: while question k is written, k - 1 (its partial answer may be the last)."""
    asking = _ASKING_RE.match(view.phase or "") if view.status == "running" else None
    if asking:
        return min(int(asking.group(1)) - 1, len(view.answers))
    return 0 if view.status == "running" else len(view.answers)


_ASKING_RE = re.compile(r"question (\d+) of \d+$")  # the phase generate.py writes per question


_RESPONSES: dict[int | str, dict[str, object]] = {
    202: {"model": SummaryOut},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
    429: {"model": ErrorOut},
    503: {"model": SummaryOut},
}
# Any language the translation prompt names (app/summarize/translate.py checks it: 422 otherwise);
# each language is its own cached FAQ.
Lang = Annotated[
    str, Query(max_length=16, description="the FAQ's language: en, zh, or another the site offers")
]
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
    """Start the paper's FAQ if it is new (within the limits), then answer as GET does. With the
    reader's own model in X-LLM-* headers (and `stream=true`), the shared FAQ when it is written, else
    theirs, streamed and never stored."""
    reader = reader_llm(request.headers, settings)
    if reader is not None:
        return _own_summary(request, session, settings, arxiv_id, lang=lang, stream=stream, reader=reader)
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
    lang = check_language(lang)
    paper = stored_paper(session, normalise_id(arxiv_id))
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


def _own_summary(
    request: Request,
    session: Session,
    settings: Settings,
    arxiv_id: str,
    *,
    lang: str,
    stream: bool,
    reader: ReaderLLM,
) -> Response:
    if not stream:  # nothing is stored: there is nothing to poll afterwards
        raise InvalidQueryError("a FAQ from your own model is only streamed: add stream=true")
    lang = check_language(lang)
    paper = stored_paper(session, normalise_id(arxiv_id))
    with stream_slots.taken(settings, client_address(request)) as slot:
        faq = open_own_faq(session, settings, paper=paper, lang=lang, reader=reader)
    session.close()
    events = slot.hold_while(_sse(view, own=faq.own) async for view in faq.live.follow())
    return StreamingResponse(events, media_type="text/event-stream", headers=_NO_BUFFER)


_NO_BUFFER = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _sse(view: FaqView, *, own: bool = False) -> str:
    return f"event: summary\ndata: {json.dumps(summary_out(view, own=own).model_dump(mode='json'))}\n\n"
