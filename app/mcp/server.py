"""An MCP server (the official `mcp` SDK) at `/mcp`, streamable HTTP: tools for agents.

The tools are thin wrappers of the use cases the website and API already use: hybrid search, a
day's listing, a paper (as the Markdown of `/arxiv/{id}.md`), related papers, and "for you" by
profile token. Each call opens its own session; the tools only read.

Stateless streamable HTTP with JSON answers: any web process can answer any call (the web tier
stays stateless behind a load balancer), and no session outlives a request.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import cache
from typing import Any
from urllib.parse import quote, urlsplit

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import ToolAnnotations
from starlette.types import Receive, Scope, Send

from app import __version__
from app.api.papers import normalise_id
from app.arxiv.ids import abs_url
from app.config import Settings, get_settings
from app.deps import FULL_DATE_RE, get_searcher
from app.errors import CoolPapersError, InvalidQueryError, NotFoundError
from app.profiles.digest import profile_digest
from app.profiles.store import find_profile
from app.ratelimit import check_rate, counted_as, lookup_allowance
from app.renders import page_threads
from app.search.hybrid import Hit, SearchFilters
from app.store.db import session_scope
from app.store.listings import parse_category_expression, read_listing
from app.store.lookup import get_or_fetch_paper
from app.store.models import Paper
from app.store.papers import get_paper
from app.summarize.service import cached_faqs
from app.web.markdown import paper_as_markdown

MAX_RESULTS = 100
ABSTRACT_CHARS = 600  # a listing of hundreds of papers stays within an agent's context


def _brief(paper: Paper, *, score: float | None = None) -> dict[str, Any]:
    abstract = " ".join(paper.abstract.split())
    item: dict[str, Any] = {
        "arxiv_id": paper.arxiv_id,
        "title": " ".join(paper.title.split()),
        "authors": list(paper.authors),
        "categories": list(paper.categories),
        "abstract": abstract if len(abstract) <= ABSTRACT_CHARS else abstract[: ABSTRACT_CHARS - 1] + "…",
        "url": _paper_url(paper),
    }
    if score is not None:
        item["score"] = round(score, 6)
    return item


def _paper_url(paper: Paper) -> str:
    """arXiv's abstract page; a venue paper's page on this site (its id is not an arXiv id)."""
    if paper.source == "arxiv":
        return abs_url(paper.arxiv_id)
    return f"{get_settings().public_url.rstrip('/')}/venue/{quote(paper.arxiv_id, safe='@')}"


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_RESULTS:
        raise InvalidQueryError(f"limit: between 1 and {MAX_RESULTS}")
    return limit


def search(
    query: str, ctx: Context[Any, Any], limit: int = 10, categories: str | None = None
) -> dict[str, Any]:
    """Search arXiv papers by words and meaning (hybrid full-text + vector search).

    `categories` narrows the results: `cs.CL`, `cs` (a whole archive), `cs.AI,cs.LG`.
    """
    settings = get_settings()
    # The same bucket and limit as the website's and the API's search: one client, one budget.
    check_rate(settings, bucket="search", client=_client_of(ctx), limit=settings.rate_search_per_minute)
    filters = SearchFilters(categories=parse_category_expression(categories) if categories else None)
    with session_scope(settings) as session:
        result = get_searcher(session, settings).search(
            query[:500], filters=filters, limit=_limit(limit), offset=0
        )
        return {"total": result.total, "items": [_brief(h.paper, score=h.score) for h in result.hits]}


def _client_of(ctx: Context[Any, Any]) -> str:
    """The HTTP client's address behind an MCP call (streamable HTTP carries the Starlette request)."""
    request = ctx.request_context.request
    client = getattr(request, "client", None)
    return counted_as(str(client.host)) if client is not None else "unknown"  # as the site counts it


def listing(categories: str, date: str | None = None, limit: int = MAX_RESULTS) -> dict[str, Any]:
    """One announcement day of arXiv categories (default: the latest): new, cross-lists, replacements.

    `date` is YYYY-MM-DD; the answer names the previous and next days that have papers.
    """
    try:  # the API's form alone (fromisoformat also reads 20260924 and 2026-W39-4)
        if date and not FULL_DATE_RE.fullmatch(date):
            raise ValueError(date)
        day = dt.date.fromisoformat(date) if date else None
    except ValueError as exc:
        raise InvalidQueryError(f"date: YYYY-MM-DD, not {(date or '')[:20]!r}") from exc
    with session_scope(get_settings()) as session:
        found = read_listing(session, parse_category_expression(categories), day=day)
        return {
            "date": found.day.isoformat() if found.day else None,
            "prev_date": found.prev_day.isoformat() if found.prev_day else None,
            "next_date": found.next_day.isoformat() if found.next_day else None,
            "total": len(found.papers),
            "items": [_brief(p.paper) | {"section": p.section} for p in found.papers[: _limit(limit)]],
        }


def paper(arxiv_id: str, ctx: Context[Any, Any]) -> str:
    """One paper as Markdown: title, authors, abstract, and its FAQ summary when one was written."""
    settings = get_settings()
    with session_scope(settings) as session:
        allowed = lookup_allowance(settings, _client_of(ctx))
        found = get_or_fetch_paper(session, settings, normalise_id(arxiv_id), may_start=allowed)
        if found is None:
            raise NotFoundError(f"arXiv does not know the paper {arxiv_id[:40]}")
        return paper_as_markdown(found, cached_faqs(session, [found.id]).get(found.id, []))


def related(arxiv_id: str, limit: int = 10) -> dict[str, Any]:
    """Papers closest in meaning to one paper (by its embedding; by its title's words until embedded)."""
    settings = get_settings()
    with session_scope(settings) as session:
        found = get_paper(session, normalise_id(arxiv_id))
        if found is None:
            raise NotFoundError(f"no stored paper {arxiv_id[:40]}")
        hits: list[Hit] = get_searcher(session, settings).related(found, k=_limit(limit))
        return {"items": [_brief(h.paper, score=h.score) for h in hits]}


def for_you(token: str, ctx: Context[Any, Any], limit: int = 10) -> dict[str, Any]:
    """The latest day's papers for a reader's profile (its stars, keywords, follows), best first."""
    settings = get_settings()
    # The profile API's bucket and limit: tokens are tried at the same pace here as there.
    check_rate(settings, bucket="profile", client=_client_of(ctx), limit=settings.rate_profile_per_minute)
    settings = settings.model_copy(update={"digest_papers": _limit(limit)})
    with session_scope(settings) as session:
        profile = find_profile(session, token.strip())
        if profile is None:
            raise NotFoundError("no profile has this token")
        digest = profile_digest(session, settings, profile.id)
        if digest is None:
            return {"date": None, "items": []}
        items = [
            {"arxiv_id": p.arxiv_id, "title": p.title, "authors": p.authors, "url": p.abs_url,
             "score": p.score, "reason": p.reason, "summary": p.summary}
            for p in digest.papers
        ]  # fmt: skip
        return {"date": digest.listing_day.isoformat(), "items": items}


def _telling(tool: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """The tool run on the page threads (app/renders.py), as the pages and the API that read as much run:
    the SDK would run it on any of anyio's 40 threads; this app's errors passed to the agent as ToolError,
    their one line saying what to fix.

    (The SDK keeps any other exception's text on the server, and answers only "Error executing tool".)
    """

    @functools.wraps(tool)
    async def answering(*args: Any, **kwargs: Any) -> Any:
        try:
            return await page_threads.run(functools.partial(tool, *args, **kwargs))
        except CoolPapersError as exc:
            raise ToolError(str(exc)) from exc

    return answering


@cache
def mcp_server() -> MCPServer:
    server: MCPServer = MCPServer(
        "coolpapers",
        version=__version__,
        instructions="Daily arXiv listings, search, papers with FAQ summaries, and a reader's picks.",
        warn_on_duplicate_tools=False,
    )
    for tool in (search, listing, paper, related, for_you):
        server.add_tool(_telling(tool), annotations=ToolAnnotations(read_only_hint=True))
    return server


def _transport_security(settings: Settings) -> TransportSecuritySettings:
    """DNS-rebinding protection: the Host (and any Origin) must be this site's or loopback."""
    public = urlsplit(settings.public_url)
    loopback = ["127.0.0.1", "localhost", "[::1]"]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[public.netloc, *(f"{h}:*" for h in loopback), *loopback],
        allowed_origins=[
            f"{public.scheme}://{public.netloc}",
            *(f"http://{h}:*" for h in loopback),
            *(f"http://{h}" for h in loopback),
        ],
    )


class McpEndpoint:
    """The ASGI app at /mcp: the session manager of the running lifespan (a new one per start).

    The SDK's session manager runs once per instance, and an app may be started more than once
    in a process (tests do): each start builds its own.
    """

    def __init__(self) -> None:
        self._app: StreamableHTTPASGIApp | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        server = mcp_server()
        server.streamable_http_app(
            streamable_http_path="/mcp",
            stateless_http=True,
            json_response=True,
            transport_security=_transport_security(get_settings()),
        )
        manager = server.session_manager
        async with manager.run():
            self._app = StreamableHTTPASGIApp(manager)
            try:
                yield
            finally:
                self._app = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            body = b'{"detail":"the MCP server is not running"}'
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self._app(scope, receive, send)


mcp_endpoint = McpEndpoint()
