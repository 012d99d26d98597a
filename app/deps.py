"""FastAPI dependencies, as Annotated aliases the routes share."""

from __future__ import annotations

import datetime as dt
import hmac
import re
from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BeforeValidator
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from app.config import Settings, get_settings
from app.errors import InvalidQueryError
from app.search.embed import get_embedder
from app.search.hybrid import Searcher
from app.search.index import IndexHolder
from app.store.db import get_sessionmaker

FULL_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _full_date(value: object) -> object:
    """Only what the schema's `format: date` promises: pydantic alone reads `0` as 1970-01-01."""
    if isinstance(value, dt.date) or (isinstance(value, str) and FULL_DATE_RE.fullmatch(value)):
        return value
    raise ValueError("a date is written YYYY-MM-DD")


def _form_date(value: object) -> object:
    """A page's date field left empty (a form sends `from=&to=`) means no date."""
    return None if value == "" else _full_date(value)


IsoDate = Annotated[dt.date, BeforeValidator(_full_date)]
FormDate = Annotated[dt.date | None, BeforeValidator(_form_date)]  # the pages' dates


async def get_session() -> AsyncIterator[Session]:
    """One session per request; the request's use case commits, anything raised rolls back.

    Async, so that FastAPI does not hop to a worker thread to enter it: making a Session does no
    I/O (it connects on first use); rolling back and closing do, so they run in the threadpool.
    """
    session = get_sessionmaker()()
    try:
        yield session
    except BaseException:
        await run_in_threadpool(session.rollback)
        raise
    finally:
        await run_in_threadpool(session.close)


async def current_settings() -> Settings:
    """The settings (cached after the first read): async, so no worker-thread hop per request."""
    return get_settings()


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(current_settings)]


def require_admin(
    settings: SettingsDep, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
) -> None:
    """Admin routes: off (403) without ADMIN_TOKEN; otherwise a bearer token compared in constant time."""
    if settings.admin_token is None or not settings.admin_token.get_secret_value():
        raise HTTPException(403, "admin routes are off: set ADMIN_TOKEN to enable them")
    scheme, _, token = (authorization or "").partition(" ")
    expected = settings.admin_token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})


AdminDep = Depends(require_admin)


@lru_cache
def index_holder(data_dir: str) -> IndexHolder:
    """One index per web process and data folder, reloaded when a new one is published."""
    return IndexHolder(get_settings())


def get_searcher(session: SessionDep, settings: SettingsDep) -> Searcher:
    return Searcher(session, settings, get_embedder(settings), index_holder(str(settings.data_dir)))


SearcherDep = Annotated[Searcher, Depends(get_searcher)]


# The request body of an upload route, for its OpenAPI document: the form is read by `form_file`.
MULTIPART_FILE: dict[str, object] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            }
        },
    }
}


async def form_file(request: Request, *, field: str, max_bytes: int) -> bytes:
    """One file field of a multipart form (at most `max_bytes` + 1 of it: enough to say it is too
    large), read only when the route asks: declared as a parameter, the whole body was received and
    spooled before the route's checks (uploads off, rate limit, cross-site) could refuse it."""
    try:
        form = await request.form(max_files=1, max_fields=10)
    except (MultiPartException, ValueError) as exc:
        raise HTTPException(400, "the body cannot be read as a multipart form") from exc
    upload = form.get(field)
    if not isinstance(upload, UploadFile):
        raise InvalidQueryError(f"{field}: a file is required in the form's `{field}` field")
    return await upload.read(max_bytes + 1)
