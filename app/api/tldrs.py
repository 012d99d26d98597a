"""/api/v1/papers/{arxiv_id}/tldr: the paper's one-sentence TL;DR, written on demand.

As the FAQ: 200 once written, 202 with a poll hint while it is written, 503 when the last try failed;
a GET starts one only when this site's own page asks. Without a language model there is no TL;DR
(404): nothing is invented. Listings and papers carry the written ones as `tldr`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from app.api.papers import normalise_id
from app.api.schemas import INVALID_INPUT, ErrorOut
from app.config import Settings
from app.deps import SessionDep, SettingsDep
from app.errors import NotFoundError
from app.ratelimit import client_address, rate_limit
from app.security import refuse_cross_site, same_origin
from app.store.models import Tldr, Translation
from app.store.papers import stored_paper
from app.summarize.generations import retry_after
from app.summarize.service import client_key, llm_configured
from app.summarize.tldr import find_tldr, open_tldr

router = APIRouter(tags=["tldrs"], responses=INVALID_INPUT)
summary_limit = Depends(rate_limit("summary", lambda s: s.rate_summary_per_minute))
POLL_SECONDS = 1


class TldrOut(BaseModel):
    paper: str
    status: str  # ready | pending | running | failed
    tldr: str | None  # one plain sentence (untrusted: show it as text)
    model: str
    prompt_version: str
    error: str | None
    retry_after: int | None


_RESPONSES: dict[int | str, dict[str, object]] = {
    202: {"model": TldrOut},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
    429: {"model": ErrorOut},
    503: {"model": TldrOut},
}


@router.get("/papers/{arxiv_id:path}/tldr", dependencies=[summary_limit], responses=_RESPONSES)
def read_tldr(request: Request, session: SessionDep, settings: SettingsDep, arxiv_id: str) -> JSONResponse:
    """The paper's TL;DR by the configured model: 200 when written, 202 while being written, 503
    when the last try failed, 404 when none was asked for. This site's own pages start it with a GET."""
    return _tldr(request, session, settings, arxiv_id, start=same_origin(request))


@router.post(
    "/papers/{arxiv_id:path}/tldr",
    dependencies=[summary_limit, Depends(refuse_cross_site)],
    responses=_RESPONSES,
)
def start_tldr(request: Request, session: SessionDep, settings: SettingsDep, arxiv_id: str) -> JSONResponse:
    """Start the paper's TL;DR if it has none (within the summary limits), then answer as GET."""
    return _tldr(request, session, settings, arxiv_id, start=True)


def _tldr(
    request: Request, session: Session, settings: Settings, arxiv_id: str, *, start: bool
) -> JSONResponse:
    paper = stored_paper(session, normalise_id(arxiv_id))
    if not llm_configured(settings):
        raise NotFoundError("this instance has no language model: it writes no TL;DRs")
    row = find_tldr(session, settings, paper=paper)
    if row is None and not start:
        raise NotFoundError(f"no TL;DR of {paper.arxiv_id} yet: POST to this URL to start one")
    if start:
        row = open_tldr(session, settings, paper=paper, requester=client_key(client_address(request)))
    assert row is not None
    return _answer(paper.arxiv_id, row)


def answer_status(row: Tldr | Translation) -> tuple[int, int | None]:
    """A generated text's HTTP status and Retry-After: 200 written, 202 being written, 503 failed."""
    if row.status == "failed":
        return 503, max(retry_after(row), 1)
    if row.status != "ready":
        return 202, POLL_SECONDS
    return 200, None


def _answer(arxiv_id: str, row: Tldr) -> JSONResponse:
    status, wait = answer_status(row)
    body = TldrOut(paper=arxiv_id, status=row.status, tldr=row.text, model=row.model,
                   prompt_version=row.prompt_version, error=row.error, retry_after=wait)  # fmt: skip
    headers = {"Retry-After": str(wait)} if wait else {}
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)
