"""/docs: the OpenAPI document in Swagger UI, inside the site's own page (header, theme, dark mode).

Swagger UI is vendored (no CDN) and started by a static script (the CSP allows no inline one).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.web.templating import templates

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "docs.html", {})
