"""create_app(): routers, static files, error handlers. `app = create_app()` for uvicorn."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import __version__
from app.answers import RecentAnswers
from app.api import admin as api_admin
from app.api import listings as api_listings
from app.api import papers as api_papers
from app.api import rank as api_rank
from app.api import search as api_search
from app.api import status as api_status
from app.api import summaries as api_summaries
from app.config import get_settings
from app.deps import index_holder
from app.errors import CoolPapersError, FetchError, InvalidQueryError, NotFoundError
from app.logs import configure_logging
from app.observability import RequestMetrics, metrics_text, readiness
from app.ratelimit import RateLimitedError
from app.search.index import read_meta
from app.security import BodyLimit, SecurityHeaders
from app.summarize.service import SummaryLimitError
from app.web import faq, pages
from app.web.templating import render_error

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    # The modules and templates loaded by now live as long as the process: moving them out of
    # the collector's reach keeps full collections (100+ ms pauses, the listing's p99) rare.
    configure_logging(get_settings().log_level)
    gc.collect()
    gc.freeze()
    # A request allocates thousands of short-lived objects (rows, dicts): collect young ones less
    # often, and the old generation rarely (its pending share, not this, triggers most full runs).
    gc.set_threshold(20_000, 50, 100)
    yield


def create_app() -> FastAPI:
    app = FastAPI(
        lifespan=lifespan,
        title="Cool Papers (self-hosted)",
        version=__version__,
        description="Daily arXiv listings, search and FAQ summaries; papers.cool-compatible URLs.",
        docs_url=None,  # served below from vendored assets: no CDN
        redoc_url=None,
    )
    app.add_api_route("/docs", _docs, include_in_schema=False)
    app.include_router(api_listings.router, prefix="/api/v1")
    app.include_router(api_search.router, prefix="/api/v1")  # before papers: /papers/{id}/related
    app.include_router(api_summaries.router, prefix="/api/v1")  # and /papers/{id}/summary
    app.include_router(api_papers.router, prefix="/api/v1")
    app.include_router(api_rank.router, prefix="/api/v1")
    app.include_router(api_status.router, prefix="/api/v1")
    app.include_router(api_admin.router, prefix="/api/v1")
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")
    app.include_router(faq.router)  # before pages: /arxiv/kimi is not a category
    app.include_router(pages.router)
    _add_error_handlers(app)
    app.add_middleware(RecentAnswers)  # innermost: the others still wrap a kept answer
    app.add_middleware(BodyLimit, max_bytes=lambda: get_settings().max_request_bytes)
    app.add_middleware(SecurityHeaders)
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
        settings, index_loaded=True if loaded else (False if read_meta(settings) else None)
    )
    return JSONResponse(checks | {"ready": ready}, status_code=200 if ready else 503)


DOCS_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Cool Papers API</title>
<link rel="icon" href="/static/vendor/swagger-ui/favicon-32x32.png">
<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/js/docs.js"></script></body></html>"""


async def _docs() -> Response:
    # Swagger UI from vendored files, started by a static script: no CDN, no inline script (CSP).
    return HTMLResponse(DOCS_HTML)


def _status_of(exc: Exception) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, InvalidQueryError):
        return 422
    if isinstance(exc, SummaryLimitError | RateLimitedError):
        return 429
    if isinstance(exc, FetchError):
        return 503
    return 500


def _error(request: Request, status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)
    response = render_error(request, status=status, detail=detail)
    response.headers.update(headers or {})
    return response


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CoolPapersError)
    async def domain_error(request: Request, exc: CoolPapersError) -> Response:
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(int(retry_after))} if retry_after else None
        return _error(request, _status_of(exc), str(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return _error(request, 422, validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _error(request, exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.url.path})
        return _error(request, 500, "internal error")


def validation_message(exc: RequestValidationError) -> str:
    """One readable line from pydantic's list: `query.limit: Input should be less than or equal to 1000`."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(loc) for loc in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


app = create_app()
