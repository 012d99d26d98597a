"""papers.cool's FAQ URLs: POST /arxiv/kimi (the FAQ as HTML fragments), /arxiv/progress, /arxiv/star."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from app.arxiv.ids import split_arxiv_id
from app.config import Settings
from app.deps import SessionDep, SettingsDep
from app.errors import FeedParseError, InvalidQueryError, NotFoundError
from app.ratelimit import check_rate, client_address, rate_limit
from app.store.counters import bump_counter
from app.store.models import Paper
from app.store.papers import get_paper
from app.summarize.service import FaqView, find_summary, llm_configured, prompt_for, view_of
from app.summarize.watch import watch_summary
from app.web.templating import templates
from workers.summaries import open_faq

router = APIRouter(include_in_schema=False)
summary_limit = Depends(rate_limit("summary", lambda s: s.rate_summary_per_minute))
star_limit = Depends(rate_limit("star", lambda s: s.rate_star_per_minute))
Lang = Literal["en", "zh"]


def _paper(session: SessionDep, raw: str) -> Paper:
    try:
        arxiv_id = split_arxiv_id(raw)[0]
    except FeedParseError as exc:
        raise InvalidQueryError(str(exc)) from exc
    paper = get_paper(session, arxiv_id)
    if paper is None:
        raise NotFoundError(f"paper {raw} is not in this instance")
    return paper


@router.post("/arxiv/kimi", dependencies=[summary_limit])
def kimi(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    paper: Annotated[str, Query(max_length=64)],
    lang: Lang = "en",
) -> Response:
    """The FAQ as HTML: at once when cached, else each answer as soon as it is written."""
    found = _paper(session, paper)
    bump_counter(session, paper_id=found.id, kind="kimi", day=dt.date.today())
    client = request.client.host if request.client else None
    view = open_faq(session, settings, paper=found, lang=lang, client_address=client)
    return StreamingResponse(_fragments(settings, found, view, lang), media_type="text/html; charset=utf-8")


async def _fragments(settings: Settings, paper: Paper, first: FaqView, lang: str) -> AsyncIterator[str]:
    macros = templates.env.get_template("_faq.html").module
    yield macros.faq_open(paper, first)  # type: ignore[attr-defined]
    sent, last = 0, first
    views = [first] if first.done or first.summary_id is None else None
    stream = views or watch_summary(settings, first.summary_id or 0, prompt_for(settings, lang))
    async for view in _aiter(stream):
        complete = view.answers if view.done else view.answers[:-1] if view.status == "running" else []
        for item in complete[sent:]:
            yield macros.faq_item(item)  # type: ignore[attr-defined]
        sent, last = max(sent, len(complete)), view
    yield macros.faq_close(last)  # type: ignore[attr-defined]


async def _aiter(source: object) -> AsyncIterator[FaqView]:
    if isinstance(source, list):
        for item in source:
            yield item
    else:
        async for item in source:  # type: ignore[attr-defined]
            yield item


@router.get("/arxiv/progress")
def progress(
    session: SessionDep, settings: SettingsDep, paper: Annotated[str, Query(max_length=64)], lang: Lang = "en"
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
    return JSONResponse(body | {"queue_position": view.queue_position, "error": view.error})


@router.post("/arxiv/star", dependencies=[star_limit])
def star(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    paper: Annotated[str, Query(max_length=64)],
    key: Literal["pdf", "kimi"],
    delta: Annotated[int, Query(ge=1, le=1)] = 1,
) -> JSONResponse:
    """Count an open of a paper's PDF or FAQ (papers.cool's URL); returns the new total.

    A client counts once per paper, kind and day: reloading cannot pump the counters.
    """
    found = _paper(session, paper)
    check_rate(
        settings, bucket=f"star1:{found.id}:{key}", client=client_address(request), limit=1, window=86_400
    )
    total = bump_counter(session, paper_id=found.id, kind=key, day=dt.date.today(), delta=delta)
    session.commit()
    return JSONResponse({"paper": found.arxiv_id, "key": key, "count": total})
