"""/upload: a reader's own PDF and its FAQ on a page of its own (off unless UPLOADS=on)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.config import Settings, get_settings
from app.deps import SessionDep, SettingsDep, form_file
from app.errors import NotFoundError, PdfRejectedError
from app.ratelimit import client_address, rate_limit
from app.security import refuse_cross_site
from app.store.papers import as_utc
from app.summarize.uploads import find_upload, start_upload
from app.web.templating import templates

router = APIRouter(include_in_schema=False)
upload_limit = Depends(rate_limit("upload", lambda s: s.rate_upload_per_minute))
UPLOAD_PATHS = ("/upload", "/api/v1/uploads")
MULTIPART_OVERHEAD = 64_000  # the form's boundaries and headers around the file
# The page's address is its only key: no caching, no indexing, no Referer carrying it elsewhere.
PRIVATE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer"}


def upload_body_limit(path: str) -> int | None:
    """The request body limit of the upload routes (app.security.BodyLimit): the PDF's and a little,
    when uploads are on (off, the site's own limit refuses a PDF's worth at once)."""
    settings = get_settings()
    return (
        settings.upload_max_bytes + MULTIPART_OVERHEAD if settings.uploads and path in UPLOAD_PATHS else None
    )


def uploads_on(settings: SettingsDep) -> None:
    if not settings.uploads:
        raise NotFoundError("uploads are off on this server (UPLOADS=on turns them on)")


@router.get("/upload", response_class=HTMLResponse, dependencies=[Depends(uploads_on)])
def upload_form(request: Request, settings: SettingsDep) -> Response:
    return _form(request, settings, error=None, status=200)


@router.post("/upload", dependencies=[Depends(uploads_on), upload_limit, Depends(refuse_cross_site)])
async def upload(request: Request, settings: SettingsDep) -> Response:
    """Read the PDF and queue its FAQ, then show its page; the form again with the reason when refused."""
    data = await form_file(request, field="file", max_bytes=settings.upload_max_bytes)  # once allowed
    return await run_in_threadpool(_uploaded, request, settings, data)


def _uploaded(request: Request, settings: Settings, data: bytes) -> Response:
    try:
        token = start_upload(settings, data, client_address=client_address(request))
    except PdfRejectedError as exc:
        return _form(request, settings, error=str(exc), status=422)
    return RedirectResponse(f"/upload/{token}", status_code=303, headers=PRIVATE)


@router.get("/upload/{token}", response_class=HTMLResponse, dependencies=[Depends(uploads_on)])
def upload_page(request: Request, session: SessionDep, settings: SettingsDep, token: str) -> Response:
    row = find_upload(session, settings, token)
    if row is None:
        raise NotFoundError("no such upload: it may have expired (uploads are kept a day at most)")
    until = as_utc(row.created_at) + dt.timedelta(hours=settings.upload_keep_hours)
    context = {"upload": row, "until": until, "done": row.status in ("ready", "failed")}
    return templates.TemplateResponse(request, "upload_faq.html", context, headers=PRIVATE)


def _form(request: Request, settings: Settings, *, error: str | None, status: int) -> Response:
    context = {"error": error, "max_mb": settings.upload_max_bytes / 1_000_000}
    return templates.TemplateResponse(request, "upload.html", context, status_code=status, headers=PRIVATE)
