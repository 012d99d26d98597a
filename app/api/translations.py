"""/api/v1/papers/{arxiv_id}/translation?lang=zh: the title and abstract in a reader's language.

As the FAQ (app/api/summaries.py): 200 with the text once written, 202 with a poll hint (Retry-After,
`retry_after`) while it is written, 503 when the last try failed; a GET starts a translation only when
this site's own page asks, a POST from another site's page is refused. A language the translation
prompt does not name is a 422; an instance without a language model translates nothing (404).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from app.api.papers import normalise_id
from app.api.schemas import INVALID_INPUT, ErrorOut
from app.api.tldrs import answer_status
from app.config import Settings
from app.deps import SessionDep, SettingsDep
from app.errors import NotFoundError
from app.ratelimit import client_address, rate_limit
from app.security import refuse_cross_site, same_origin
from app.store.models import Translation
from app.store.papers import stored_paper
from app.summarize.service import client_key, llm_configured
from app.summarize.translate import check_language, find_translation, open_translation

router = APIRouter(tags=["translations"], responses=INVALID_INPUT)
summary_limit = Depends(rate_limit("summary", lambda s: s.rate_summary_per_minute))


class TranslationOut(BaseModel):
    paper: str
    lang: str
    status: str  # ready | pending | running | failed
    title: str | None  # plain text as the model wrote it (untrusted: show it as text)
    abstract: str | None
    model: str
    prompt_version: str
    error: str | None
    retry_after: int | None  # seconds before asking again: the poll hint, or a failure's cool-down


_RESPONSES: dict[int | str, dict[str, object]] = {
    202: {"model": TranslationOut},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
    429: {"model": ErrorOut},
    503: {"model": TranslationOut},
}
Lang = Annotated[
    str, Query(max_length=16, description="a language the translation prompt names: zh, en, ja …")
]


@router.get("/papers/{arxiv_id:path}/translation", dependencies=[summary_limit], responses=_RESPONSES)
def read_translation(
    request: Request, session: SessionDep, settings: SettingsDep, arxiv_id: str, lang: Lang = "zh"
) -> JSONResponse:
    """The paper's title and abstract in `lang`: 200 when written, 202 while being written, 503 when
    the last try failed, 404 when none was asked for (POST starts one). Asked by this site's own
    pages, a GET starts the translation too."""
    return _translation(request, session, settings, arxiv_id, lang=lang, start=same_origin(request))


@router.post(
    "/papers/{arxiv_id:path}/translation",
    dependencies=[summary_limit, Depends(refuse_cross_site)],
    responses=_RESPONSES,
)
def start_translation(
    request: Request, session: SessionDep, settings: SettingsDep, arxiv_id: str, lang: Lang = "zh"
) -> JSONResponse:
    """Start the paper's translation if it is new (within the summary limits), then answer as GET."""
    return _translation(request, session, settings, arxiv_id, lang=lang, start=True)


def _translation(
    request: Request, session: Session, settings: Settings, arxiv_id: str, *, lang: str, start: bool
) -> JSONResponse:
    lang = check_language(lang)
    paper = stored_paper(session, normalise_id(arxiv_id))
    if not llm_configured(settings):
        raise NotFoundError("this instance has no language model: it writes no translations")
    row = find_translation(session, settings, paper=paper, lang=lang)
    if row is None and not start:
        raise NotFoundError(f"no translation of {paper.arxiv_id} yet: POST to this URL to start one")
    if start:
        requester = client_key(client_address(request))
        row = open_translation(session, settings, paper=paper, lang=lang, requester=requester)
    assert row is not None
    return _answer(paper.arxiv_id, row)


def _answer(arxiv_id: str, row: Translation) -> JSONResponse:
    status, wait = answer_status(row)
    body = TranslationOut(
        paper=arxiv_id, lang=row.lang, status=row.status, title=row.title, abstract=row.abstract,
        model=row.model, prompt_version=row.prompt_version, error=row.error, retry_after=wait,
    )  # fmt: skip
    headers = {"Retry-After": str(wait)} if wait else {}
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)
