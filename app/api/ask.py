"""POST /api/v1/papers/{arxiv_id}/ask: a follow-up question on a paper, its answer streamed (SSE).

Each event is `event: answer` with the answer so far as sanitised HTML (`html`), where it was read from
(`context`, `note`), and, once done, `status` ready (with the Markdown as written, `answer`) or failed
(with `error`). Identical questions share one stored answer; a reader's own model (X-LLM-Base-URL,
X-LLM-Key, X-LLM-Model) answers that reader only. A POST from another site's page is refused.
GET with `?question=` reads a stored answer (the last event's JSON) and never starts one.
"""

from __future__ import annotations

import json
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from app.api.papers import normalise_id
from app.api.schemas import INVALID_INPUT, ErrorOut
from app.config import Settings
from app.deps import SessionDep, SettingsDep
from app.ratelimit import client_address, rate_limit
from app.security import refuse_cross_site
from app.summarize.ask import MAX_CHARS, AnswerPlan, follow_answer, open_answer, peek_answer
from app.summarize.live import AnswerState
from app.summarize.ownkey import reader_llm
from app.summarize.render import render_markdown, render_markdown_uncached
from app.summarize.watch import stream_slots

router = APIRouter(tags=["summaries"], responses=INVALID_INPUT)
ask_limit = Depends(rate_limit("ask", lambda s: s.rate_ask_per_minute))
_NO_BUFFER = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"text/event-stream": {}}, "description": "server-sent `answer` events"},
    400: {"model": ErrorOut, "description": "A body that cannot be read as JSON"},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
    429: {"model": ErrorOut},
    503: {"model": ErrorOut},
}


class AskIn(BaseModel):
    question: Annotated[str, Field(min_length=1, max_length=MAX_CHARS * 2)]


@router.post(
    "/papers/{arxiv_id:path}/ask",
    dependencies=[ask_limit, Depends(refuse_cross_site)],
    responses=_RESPONSES,
    response_class=StreamingResponse,
)
async def ask(request: Request, settings: SettingsDep, arxiv_id: str, body: AskIn) -> StreamingResponse:
    """Ask a question about the paper; the answer streams as server-sent events, grounded in the
    paper's full text when its FAQ was written from it, else in its abstract (the events say which)."""
    address = client_address(request)
    with stream_slots.taken(settings, address) as slot:
        plan = await to_thread.run_sync(_open, settings, request, arxiv_id, body.question, address)
    events = slot.hold_while(answer_event(state) async for state in follow_answer(settings, plan))
    return StreamingResponse(events, media_type="text/event-stream", headers=_NO_BUFFER)


@router.get(
    "/papers/{arxiv_id:path}/ask",
    dependencies=[ask_limit],
    responses={404: {"model": ErrorOut}, 429: {"model": ErrorOut}},
)
def stored_answer(
    session: SessionDep,
    settings: SettingsDep,
    arxiv_id: str,
    question: Annotated[str, Query(min_length=1, max_length=MAX_CHARS * 2)],
) -> JSONResponse:
    """The stored answer to a question already asked (identical questions share one), as the last
    event of POST's stream gives it; 404 when nobody has asked it. A GET never starts one."""
    state = peek_answer(session, settings, arxiv_id=normalise_id(arxiv_id), question=question)
    return JSONResponse(answer_data(state), headers={"Cache-Control": "no-cache"})


def _open(settings: Settings, request: Request, arxiv_id: str, question: str, address: str) -> AnswerPlan:
    reader = reader_llm(request.headers, settings)  # resolves the reader's host: off the event loop
    return open_answer(
        settings, arxiv_id=normalise_id(arxiv_id), question=question, client_address=address, reader=reader
    )


def answer_event(state: AnswerState) -> str:
    """One SSE event (see `answer_data`)."""
    return f"event: answer\ndata: {json.dumps(answer_data(state))}\n\n"


def answer_data(state: AnswerState) -> dict[str, object]:
    """The answer as JSON; its HTML is the model's Markdown rendered without raw HTML (render.py)."""
    html = render_markdown(state.text) if state.status == "ready" else render_markdown_uncached(state.text)
    data: dict[str, object] = {
        "status": state.status, "html": str(html), "context": state.context, "note": state.note,
        "model": state.model, "shared": state.shared, "error": state.error,
    }  # fmt: skip
    if state.status == "ready":
        data["answer"] = state.text
    return data
