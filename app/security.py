"""Browser-facing security at the edge: strict headers, a cap on request bodies, cross-site checks,
and HEAD answered as GET without its body.

Pure ASGI middlewares (no per-request task or copy), so streaming responses stay streaming.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# No inline scripts, handler attributes included: pages load their scripts from /static; KaTeX
# needs inline styles. The only other origin is arXiv, whose PDFs PDF.js reads (connect-src, in its
# worker from this origin: static/js/pdfview.js) or, before that script has run, an inline frame shows.
# papers.cool's markup carries onclick="togglePdf('<id>', '<pdf url>', this)" for the tools that
# read it (RSSHub takes the PDF link from it), so it stays in the HTML but never runs: site.js drops
# the attributes at load and delegates clicks. Chromium checks a handler attribute against the
# policy when it would run, not when it is parsed, so nothing is reported (tests/browser checks it).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self' https://arxiv.org https://*.arxiv.org",
        "worker-src 'self'",
        "frame-src https://arxiv.org https://*.arxiv.org",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


class HeadAsGet:
    """HEAD answered as GET without the body (RFC 9110 9.3.2), on every route that answers GET.

    FastAPI routes answer only the methods they declare, so a HEAD (link checkers, feed readers,
    monitors) got 405. Here it runs as the GET; its status and headers go out (Content-Length and
    ETag those of the GET) with an empty body. A stream (server-sent events) ends there: its app is
    told the client has gone.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        complete = False

        async def headers_only(message: Message) -> None:
            nonlocal complete
            if message["type"] == "http.response.start":
                await send(message)
            elif message["type"] == "http.response.body" and not complete:
                complete = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        async def gone_once_answered() -> Message:
            return {"type": "http.disconnect"} if complete else await receive()

        await self.app({**scope, "method": "GET"}, gone_once_answered, headers_only)


class BodyLimit:
    """413 for request bodies over `max_bytes`, declared (Content-Length) or streamed (chunked)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: Callable[[], int],
        larger: Callable[[str], int | None] = lambda path: None,
    ):
        self.app = app
        self._max_bytes = max_bytes  # read on first use: no settings at import time
        self._larger = larger  # a path's own limit (the PDF upload), else None

    @property
    def max_bytes(self) -> int:
        return self._max_bytes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._larger(scope["path"]) or self.max_bytes
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(send, limit)
            return
        seen, refused = 0, False

        async def counted() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Answer now; the app then sees the client gone and its own reply is dropped.
                    refused = True
                    await _too_large(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            if not refused:
                await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not refused:
                raise


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"request body larger than {limit} bytes"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# Where a request comes from, as far as a browser tells: this site's own pages, another site, or no
# page. Browsers mark every request with Sec-Fetch-Site (Chrome 76+, Firefox 90+, Safari 16.4+) and
# send Origin with every POST; API clients (curl, scripts) send neither. Another site's page can make
# a reader's browser GET or POST here (an image, a form), so actions that cost money or count a reader
# (starting a summary, bumping a counter) check this first.


def _origin_is_ours(request: Request, origin: str) -> bool:
    # The host only: behind a TLS proxy the scheme the app sees may differ from the browser's.
    host = request.headers.get("host", "")
    return origin != "null" and bool(host) and urlsplit(origin).netloc.lower() == host.lower()


def cross_site(request: Request) -> bool:
    """True when a browser says another site's page sent this request."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")  # none: typed in the address bar, a bookmark
    origin = request.headers.get("origin")
    return origin is not None and not _origin_is_ours(request, origin)


def same_origin(request: Request) -> bool:
    """True only when a browser says one of this site's own pages sent this request."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    origin = request.headers.get("origin")
    return origin is not None and _origin_is_ours(request, origin)


def refuse_cross_site(request: Request) -> None:
    """A FastAPI dependency: 403 for requests another site's page made a reader's browser send."""
    if cross_site(request):
        raise HTTPException(403, "cross-site requests are refused here: use this site's own pages")
