"""/api/v1/uploads: a reader's own PDF for its FAQ (off unless UPLOADS=on). POST the file (multipart,
field `file`), then GET its id until `status` is ready or failed."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from app.api.schemas import INVALID_INPUT, ErrorOut
from app.config import Settings
from app.deps import MULTIPART_FILE, SessionDep, SettingsDep, form_file
from app.errors import NotFoundError
from app.ratelimit import client_address, rate_limit
from app.security import refuse_cross_site
from app.store.db import session_scope
from app.summarize.ownkey import ReaderLLM, reader_llm
from app.summarize.render import render_markdown
from app.summarize.uploads import find_upload, start_upload

router = APIRouter(tags=["uploads"], responses=INVALID_INPUT)
upload_limit = Depends(rate_limit("upload", lambda s: s.rate_upload_per_minute))
_HEADERS = {"Cache-Control": "no-store"}


def uploads_on(settings: SettingsDep) -> None:
    if not settings.uploads:
        raise NotFoundError("uploads are off on this server (UPLOADS=on turns them on)")


class UploadAnswerOut(BaseModel):
    question: str
    answer: str  # Markdown as the model wrote it (untrusted: render it safely)
    html: str  # the same, rendered server-side and sanitised


class UploadOut(BaseModel):
    id: str
    url: str  # its page: the id is the only key, keep it private
    status: str  # pending | running | ready | failed
    title: str
    pages: int
    model: str
    answers: list[UploadAnswerOut]
    error: str | None


@router.post(
    "/uploads",
    dependencies=[Depends(uploads_on), upload_limit, Depends(refuse_cross_site)],
    status_code=202,
    responses={
        400: {"model": ErrorOut, "description": "A body that cannot be read as a multipart form"},
        403: {"model": ErrorOut},
        404: {"model": ErrorOut},
        413: {"model": ErrorOut},
        429: {"model": ErrorOut},
        503: {"model": ErrorOut},
    },
    openapi_extra=MULTIPART_FILE,
)
async def create(request: Request, settings: SettingsDep) -> JSONResponse:
    """Upload a PDF (at most UPLOAD_MAX_BYTES) in the multipart field `file`; 202 with its id while the
    FAQ is written; 422 with the reason when it is not a PDF this server reads (not a PDF, malformed,
    encrypted, JavaScript, bombs)."""
    data = await form_file(request, field="file", max_bytes=settings.upload_max_bytes)  # once allowed
    reader = reader_llm(request.headers, settings)  # a reader's own model writes the FAQ, if given
    return await run_in_threadpool(_created, settings, data, client_address(request), reader)


def _created(settings: Settings, data: bytes, client: str, reader: ReaderLLM | None) -> JSONResponse:
    token = start_upload(settings, data, client_address=client, reader=reader)
    with session_scope(settings) as session:
        body = _out(session, settings, token).model_dump()
    return JSONResponse(body, status_code=202, headers=_HEADERS)


@router.get("/uploads/{token}", dependencies=[Depends(uploads_on)], responses={404: {"model": ErrorOut}})
def read(session: SessionDep, settings: SettingsDep, token: str) -> JSONResponse:
    """The upload's FAQ as it stands (kept UPLOAD_KEEP_HOURS at most)."""
    return JSONResponse(_out(session, settings, token).model_dump(), headers=_HEADERS)


def _out(session: Session, settings: Settings, token: str) -> UploadOut:
    row = find_upload(session, settings, token)
    if row is None:
        raise NotFoundError("no such upload: it may have expired (uploads are kept a day at most)")
    answers = [
        UploadAnswerOut(question=a["question"], answer=a["answer"], html=str(render_markdown(a["answer"])))
        for a in row.content or []
    ]
    return UploadOut(
        id=row.id, url=f"/upload/{row.id}", status=row.status, title=row.title, pages=row.pages,
        model=row.model, answers=answers, error=row.error,
    )  # fmt: skip
