"""create_app(): routers, static files, error handlers. `app = create_app()` for uvicorn."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import kombu.exceptions
import redis.exceptions
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import Match, Route

# Loading the Celery app installs it behind app.jobs: the routers send tasks by name through that.
import workers.celery_app  # noqa: F401
from app import __version__
from app.api import admin as api_admin
from app.api import ask as api_ask
from app.api import counters as api_counters
from app.api import listings as api_listings
from app.api import papers as api_papers
from app.api import rank as api_rank
from app.api import search as api_search
from app.api import status as api_status
from app.api import summaries as api_summaries
from app.api import tldrs as api_tldrs
from app.api import translations as api_translations
from app.api import uploads as api_uploads
from app.api import venues as api_venues
from app.config import get_settings
from app.deps import index_holder
from app.errors import CoolPapersError, ErrorKind, QueueUnavailableError
from app.logs import configure_logging, loggable_path, mark_logged
from app.mcp.server import mcp_endpoint
from app.observability import (
    MODEL_WARMUP,
    RequestMetrics,
    metrics_process_exit,
    metrics_text,
    prepare_metrics_folder,
    readiness,
    request_id,
)
from app.profiles import api as api_profiles
from app.search.index import read_meta
from app.security import BodyLimit, HeadAsGet, SecurityHeaders
from app.summarize.dispatch import resume_in_process
from app.web import digest_confirm as web_digest_confirm
from app.web import docs as web_docs
from app.web import faq, pages
from app.web import markdown as web_markdown
from app.web import uploads as web_uploads
from app.web import venues as web_venues
from app.web.static import HashedStaticFiles
from app.web.templating import render_error
from app.web.uploads import upload_body_limit

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger(__name__)
GZIP_LEVEL = 1


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    # The modules and templates loaded by now live as long as the process: moving them out of
    # the collector's reach keeps full collections (100+ ms pauses, the listing's p99) rare.
    settings = get_settings()
    configure_logging(settings.log_level)
    prepare_metrics_folder(settings)
    gc.collect()
    gc.freeze()
    # A request allocates thousands of short-lived objects (rows, dicts): collect young ones less
    # often, and the old generation rarely (its pending share, not this, triggers most full runs).
    gc.set_threshold(20_000, 50, 100)
    # The event loop (health checks, streams, kept pages) waits for the GIL behind render threads:
    # a 1 ms switch interval (CPython's default is 5) hands it over sooner. benchmarks/abuse.py on 2
    # cores, /healthz p99: 84 ms before, 67 with it, 54 and 66 with the renders' lower CPU priority too
    # (app/renders.py); single runs, noisy.
    sys.setswitchinterval(0.001)
    # The first search need not wait 1-2 s for the model: it loads now, and /readyz waits for it.
    MODEL_WARMUP.start(settings)
    resume_in_process(settings)  # summaries a killed process left running (the embedded pool)
    try:
        async with mcp_endpoint.running():  # the MCP SDK's session manager lives as long as the app
            yield
    finally:
        metrics_process_exit(settings)


def create_app() -> FastAPI:
    app = FastAPI(
        lifespan=lifespan,
        title="Cool Papers (self-hosted)",
        version=__version__,
        description="Daily arXiv listings, search and FAQ summaries; papers.cool-compatible URLs.",
        docs_url=None,  # served below from vendored assets: no CDN
        redoc_url=None,
    )
    app.include_router(api_listings.router, prefix="/api/v1")
    app.include_router(api_search.router, prefix="/api/v1")  # before papers: /papers/{id}/related
    app.include_router(api_summaries.router, prefix="/api/v1")  # and /papers/{id}/summary
    app.include_router(api_tldrs.router, prefix="/api/v1")  # and /papers/{id}/tldr
    app.include_router(api_translations.router, prefix="/api/v1")  # and /papers/{id}/translation
    app.include_router(api_ask.router, prefix="/api/v1")  # and /papers/{id}/ask
    app.include_router(api_uploads.router, prefix="/api/v1")
    app.include_router(api_papers.router, prefix="/api/v1")
    app.include_router(api_rank.router, prefix="/api/v1")
    app.include_router(api_counters.router, prefix="/api/v1")
    app.include_router(api_status.router, prefix="/api/v1")
    app.include_router(api_admin.router, prefix="/api/v1")
    app.include_router(api_profiles.router, prefix="/api/v1")
    app.include_router(api_venues.router, prefix="/api/v1")
    app.router.routes.append(Route("/mcp", mcp_endpoint, include_in_schema=False))  # ASGI: any method
    app.mount("/static", HashedStaticFiles(directory=ROOT / "static"), name="static")
    app.include_router(web_markdown.router)  # before pages: /arxiv/{id}.md is not a paper id
    app.include_router(faq.router)  # before pages: /arxiv/kimi is not a category
    app.include_router(web_uploads.router)  # /upload: a reader's own PDF (UPLOADS=on)
    app.include_router(web_docs.router)  # /docs: Swagger UI in the site's page
    app.include_router(web_digest_confirm.router)  # /digest/confirm/...: a digest address's owner
    app.include_router(web_venues.router)  # papers.cool's /venue/... URLs
    app.include_router(pages.router)
    _add_error_handlers(app)
    # Every response over 1 KB gzipped when asked. Level 1: a 1,000-paper listing (3.1 MB) in ~16 ms
    # to 0.75 MB, where level 6 takes ~100 ms for 0.63 MB. Streams are flushed chunk by chunk;
    # server-sent events pass untouched (Starlette excludes text/event-stream).
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=GZIP_LEVEL)
    app.add_middleware(
        BodyLimit, max_bytes=lambda: get_settings().max_request_bytes, larger=upload_body_limit
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(HeadAsGet)  # outside gzip: a HEAD's Content-Length is the GET's on the wire
    app.add_middleware(RequestMetrics)
    app.add_api_route("/metrics", _metrics, include_in_schema=False)
    app.add_api_route("/readyz", _readyz, include_in_schema=False)
    return app


def _metrics() -> Response:
    return Response(metrics_text(), media_type="text/plain; version=0.0.4; charset=utf-8")


def _readyz() -> JSONResponse:
    """Ready when the database (and Redis, when configured) answer and the index is loaded."""
    settings = get_settings()
    holder = index_holder(str(settings.data_dir))
    loaded = holder.get(model=settings.embed_model) is not None
    ready, checks = readiness(
        settings,
        index_loaded=True if loaded else (False if read_meta(settings) else None),
        model=MODEL_WARMUP.state,
    )
    return JSONResponse(checks | {"ready": ready}, status_code=200 if ready else 503)


# The one place an error's kind becomes an HTTP status (app/errors.py draws the tree of kinds).
HTTP_STATUS = {
    ErrorKind.INTERNAL: 500,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.INVALID: 422,
    ErrorKind.LIMITED: 429,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.CONFLICT: 409,
}


# The site's own JSON calls (papers.cool's URLs, outside /api/): their errors are JSON too, not a page.
JSON_PATHS = frozenset({"/arxiv/star", "/venue/star", "/arxiv/progress", "/venue/progress", "/arxiv/lookup"})


def _error(request: Request, status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    if request.url.path.startswith("/api/") or request.url.path in JSON_PATHS:
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)
    if request.url.path.endswith(".md"):  # a paper as Markdown (for agents): its errors as text too
        return PlainTextResponse(f"{detail}\n", status_code=status, headers=headers)
    response = render_error(request, status=status, detail=detail)
    response.headers.update(headers or {})
    return response


OUTAGE_HEADERS = {"Retry-After": "5"}


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this path (a GET, a PUT and a DELETE are three routes):
    each asked of the router as the request would be (included routers keep their routes inside)."""
    routes = request.app.router.routes
    methods = [
        method
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    ]
    return [*methods[:1], "HEAD", *methods[1:]] if "GET" in methods else methods  # app.security: HEAD as GET


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CoolPapersError)
    async def domain_error(request: Request, exc: CoolPapersError) -> Response:
        headers = {"Retry-After": str(int(exc.retry_after))} if exc.retry_after else None
        return _error(request, HTTP_STATUS[exc.kind], str(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        # A body that is not JSON at all is a 400, as the operations document (BAD_BODY); a JSON
        # body with wrong or missing fields is a 422.
        unreadable = any(error.get("type") == "json_invalid" for error in exc.errors())
        return _error(request, 400 if unreadable else 422, validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:  # Starlette names the methods of the first route on the path only
            headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
        return _error(request, exc.status_code, str(exc.detail), headers)

    # An outage of a service behind the app is not the reader's fault nor a bug: 503, try again soon.
    @app.exception_handler(sqlalchemy.exc.OperationalError)
    @app.exception_handler(sqlalchemy.exc.InterfaceError)
    @app.exception_handler(sqlalchemy.exc.TimeoutError)
    async def database_away(request: Request, exc: Exception) -> Response:
        log.warning(
            "database unavailable",
            extra={"path": loggable_path(request.url.path), "error": type(exc).__name__},
        )
        return _error(request, 503, "the database is not answering; back in a moment", OUTAGE_HEADERS)

    @app.exception_handler(kombu.exceptions.OperationalError)
    @app.exception_handler(redis.exceptions.ConnectionError)
    @app.exception_handler(redis.exceptions.TimeoutError)
    async def queue_away(request: Request, exc: Exception) -> Response:
        log.warning(
            "task queue unavailable",
            extra={"path": loggable_path(request.url.path), "error": type(exc).__name__},
        )
        return await domain_error(request, QueueUnavailableError())

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", extra={"path": loggable_path(request.url.path)})
        mark_logged(exc)  # uvicorn, seeing it raised again after this answer, does not log it twice
        return _error(request, 500, "internal error", {"X-Request-ID": request_id.get()})


def validation_message(exc: RequestValidationError) -> str:
    """One readable line from pydantic's list: `query.limit: Input should be less than or equal to 1000`."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(loc) for loc in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


app = create_app()
