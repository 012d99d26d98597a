"""papers.cool's FAQ URLs: POST /arxiv/kimi (the FAQ as HTML fragments), /arxiv/progress, /arxiv/star."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from app.arxiv.ids import split_arxiv_id
from app.config import Settings
from app.deps import SessionDep, SettingsDep
from app.errors import FeedParseError, InvalidQueryError, RateLimitedError
from app.ratelimit import check_rate, client_address, rate_limit
from app.security import refuse_cross_site
from app.store.counters import bump_counter, counter_totals
from app.store.models import Paper
from app.store.papers import stored_paper
from app.summarize.dispatch import open_faq
from app.summarize.ownfaq import open_own_faq
from app.summarize.ownkey import reader_llm
from app.summarize.service import FaqView, find_summary, llm_configured, prompt_for, view_of
from app.summarize.watch import follow_faq, stream_slots
from app.venues.types import is_venue_id
from app.web.templating import templates

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
summary_limit = Depends(rate_limit("summary", lambda s: s.rate_summary_per_minute))
star_limit = Depends(rate_limit("star", lambda s: s.rate_star_per_minute))
Lang = Literal["en", "zh"]


def _paper(session: SessionDep, raw: str) -> Paper:
    if is_venue_id(raw):  # a venue paper (/venue/kimi ... and site.js's calls for venue cards)
        return stored_paper(session, raw.strip())
    try:
        arxiv_id = split_arxiv_id(raw)[0]
    except FeedParseError as exc:
        raise InvalidQueryError(str(exc)) from exc
    return stored_paper(session, arxiv_id)


@router.post("/arxiv/kimi", dependencies=[summary_limit, Depends(refuse_cross_site)])
def kimi(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    paper: Annotated[str, Query(max_length=200)],
    lang: Lang = "en",
) -> Response:
    """The FAQ as HTML: at once when cached, else each answer as soon as it is written. With the
    reader's own model in X-LLM-* headers, the shared FAQ when it is written, else theirs (never stored),
    as POST /api/v1/papers/{id}/summary gives it."""
    reader = reader_llm(request.headers, settings)
    found = _paper(session, paper)
    with stream_slots.taken(settings, client_address(request)) as slot:
        views: AsyncIterator[FaqView]
        if reader is not None:
            own = open_own_faq(session, settings, paper=found, lang=lang, reader=reader)
            first, views = own.live.state(), own.live.follow()
        else:
            address = client_address(request)
            first = open_faq(session, settings, paper=found, lang=lang, client_address=address)
            views = follow_faq(settings, first)
        # Once the FAQ is open (a refusal, e.g. the day's budget spent, is no open); counted today
        # already: it opens still.
        _count_open(request, session, settings, found, key="kimi")
        opening = str(templates.env.get_template("_faq.html").module.faq_open(found, first))  # type: ignore[attr-defined]
    session.close()  # the stream reads through the process's poller: no connection held meanwhile
    fragments = _fragments(opening, first, views)
    return StreamingResponse(slot.hold_while(fragments), media_type="text/html; charset=utf-8")


def _count_open(
    request: Request, session: Session, settings: Settings, paper: Paper, *, key: str
) -> tuple[int, bool]:
    """Count a reader's open of a paper's PDF or FAQ, once per client, paper, kind and day (committed):
    the total, and whether this open counted. A repeat is no error (a reader reopening a FAQ, a second
    browser behind the same address): it answers the total unchanged."""
    client = client_address(request)
    try:
        check_rate(settings, bucket=f"star1:{paper.id}:{key}", client=client, limit=1, window=86_400)
    except RateLimitedError:
        return counter_totals(session, [paper.id]).get(paper.id, {}).get(key, 0), False
    total = bump_counter(session, paper_id=paper.id, kind=key, day=dt.date.today())
    session.commit()
    return total, True


async def _fragments(opening: str, first: FaqView, views: AsyncIterator[FaqView]) -> AsyncIterator[str]:
    macros = templates.env.get_template("_faq.html").module
    yield opening
    sent, last = 0, first
    try:
        async for view in views:
            complete = view.answers if view.done else view.answers[:-1] if view.status == "running" else []
            for item in complete[sent:]:
                yield macros.faq_item(item)  # type: ignore[attr-defined]
            sent, last = max(sent, len(complete)), view
    except Exception:  # the closing markup still goes out: the page shows why, not a torn fragment
        log.exception("following a summary failed")
        last = replace(last, status="failed", error="this server could not follow the summary")
    if not last.done:  # followed for MAX_WAIT without an end
        last = replace(last, status="failed", error="the summary took too long; ask again later")
    yield macros.faq_close(last)  # type: ignore[attr-defined]


@router.get("/arxiv/progress")
def progress(
    session: SessionDep,
    settings: SettingsDep,
    paper: Annotated[str, Query(max_length=200)],
    lang: Lang = "en",
) -> JSONResponse:
    """Where a paper's FAQ stands: status, answers written, place in the queue."""
    found = _paper(session, paper)
    prompt = prompt_for(settings, lang)
    row = find_summary(session, settings, paper=found, lang=lang) if llm_configured(settings) else None
    if row is None:
        status = "ready" if not llm_configured(settings) else "none"
        return JSONResponse(
            {"paper": found.arxiv_id, "status": status, "answered": 0, "total": len(prompt.questions)}
        )
    view = view_of(session, row, prompt)
    answered = len(view.answers) if view.status != "running" else max(len(view.answers) - 1, 0)
    body = {
        "paper": found.arxiv_id,
        "status": view.status,
        "answered": answered,
        "total": len(prompt.questions),
    }
    # What it is doing ("fetching the PDF (attempt 2 of 5)", "question 2 of 6"), and once written,
    # why only the abstract was read when it was.
    extra = {
        "phase": view.phase,
        "model": view.model,
        "context": view.context,
        "context_reason": view.context_reason,
    }
    return JSONResponse(body | {"queue_position": view.queue_position, "error": view.error} | extra)


@router.post("/arxiv/star", dependencies=[star_limit, Depends(refuse_cross_site)])
def star(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    paper: Annotated[str, Query(max_length=200)],
    key: Literal["pdf", "kimi"],
    delta: Annotated[int, Query(ge=1, le=1)] = 1,
) -> JSONResponse:
    """Count an open of a paper's PDF or FAQ (papers.cool's URL); returns the new total.

    A client counts once per paper, kind and day: reloading cannot pump the counters.
    """
    found = _paper(session, paper)
    total, counted = _count_open(request, session, settings, found, key=key)
    return JSONResponse({"paper": found.arxiv_id, "key": key, "count": total, "counted": counted})
