"""Venue pages at papers.cool's URLs: `/venue/{Venue}.{Year}`, `/venue/{Venue}`, `/venue/{id}[,{id}]`,
their Atom feeds, `/venue/search`, and the FAQ / star / progress calls with a venue paper's id.

Registered before `pages.router`. A venue paper's card is the arXiv one (`_paper.html`) with its venue id.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session

from app.config import get_settings
from app.deps import SearcherDep, SessionDep, SettingsDep
from app.errors import NotFoundError
from app.httpcache import UNCACHED, validate
from app.ranking.foryou import sort_papers
from app.ratelimit import rate_limit
from app.renders import HeavyRender, heavy, kept_or_rendered, on_page_threads
from app.search.hybrid import SearchFilters
from app.security import refuse_cross_site
from app.store.fts import query_terms
from app.store.models import Paper
from app.store.venues import (
    edition_count,
    edition_papers,
    edition_stamp,
    edition_summaries,
    latest_venue_papers,
    latest_year,
    stored_venue,
    venue_papers_by_id,
)
from app.summarize.service import cached_faqs
from app.venues.types import is_venue_id
from app.web import faq
from app.web.faq import star_limit, summary_limit
from app.web.routing import PAGE_SPEC
from app.web.templating import templates
from app.xmlchars import xml_safe

MAX_SEARCH_SKIP = 1800  # the deepest page of a venue search (its results stop at 2,000)
router = APIRouter(include_in_schema=False)
MAX_SHOW = 5000
FEED_SIZE = 100
HTML = "text/html; charset=utf-8"
_EDITION_RE = re.compile(r"^([A-Za-z][A-Za-z0-9\-]*)\.(\d{4})$")
Lang = Literal["en", "zh"]
PaperParam = Annotated[str, Query(max_length=200)]
search_limit = Depends(rate_limit("search", lambda s: s.rate_search_per_minute))
cross_site = Depends(refuse_cross_site)  # as the arXiv FAQ and star calls


@router.get("/venue/search", response_class=HTMLResponse, dependencies=[search_limit])
@on_page_threads
def venue_search(
    request: Request,
    searcher: SearcherDep,
    query: Annotated[str, Query(max_length=500)] = "",
    show: Annotated[int, Query(ge=1, le=200)] = 25,
    skip: Annotated[int, Query(ge=0, le=MAX_SEARCH_SKIP)] = 0,
) -> Response:
    """Search over the venue papers only (the arXiv search covers both)."""
    filters = SearchFilters(source="venue")
    result = searcher.search(query, filters=filters, limit=show, offset=skip) if query.strip() else None
    context = {"query": query, "hits": result.hits if result else [], "total": result.total if result else 0,
               "terms": query_terms(query), "show": show, "skip": skip, "max_skip": MAX_SEARCH_SKIP}  # fmt: skip
    return templates.TemplateResponse(request, "venue_search.html", context)


@router.post("/venue/kimi", dependencies=[summary_limit, cross_site])
def venue_kimi(
    request: Request, session: SessionDep, settings: SettingsDep, paper: PaperParam, lang: Lang = "en"
) -> Response:
    """A venue paper's FAQ, as /arxiv/kimi gives an arXiv paper's."""
    return faq.kimi(request=request, session=session, settings=settings, paper=paper, lang=lang)


@router.get("/venue/progress")
def venue_progress(
    session: SessionDep, settings: SettingsDep, paper: PaperParam, lang: Lang = "en"
) -> JSONResponse:
    return faq.progress(session=session, settings=settings, paper=paper, lang=lang)


@router.post("/venue/star", dependencies=[star_limit, cross_site])
def venue_star(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    paper: PaperParam,
    key: Literal["pdf", "kimi"],
    delta: Annotated[int, Query(ge=1, le=1)] = 1,
) -> JSONResponse:
    return faq.star(request=request, session=session, settings=settings, paper=paper, key=key, delta=delta)


@router.get("/venue/latest/feed")
@on_page_threads
def latest_feed(request: Request, session: SessionDep) -> Response:
    """Atom: the venue papers added last, all venues together (papers.cool's newly added proceedings)."""
    papers = latest_venue_papers(session, limit=FEED_SIZE)
    return _atom(request, session, papers, title="Latest proceedings", alternate="/")


@router.get("/venue/{spec:" + PAGE_SPEC + "}")
@on_page_threads
def venue_page(
    request: Request,
    session: SessionDep,
    searcher: SearcherDep,
    spec: str,
    group: Annotated[str | None, Query(max_length=200)] = None,
    show: Annotated[int, Query(ge=1, le=MAX_SHOW)] = MAX_SHOW,
    skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    sort: Annotated[str, Query(max_length=500)] = "",
) -> Response | HeavyRender[Response]:
    """Dispatch papers.cool's venue URLs: paper ids, an edition, a venue (its latest edition), feeds."""
    feed = spec.endswith("/feed")
    spec = spec.removesuffix("/feed")
    parts = [part.strip() for part in spec.split(",") if part.strip()]
    if parts and all(is_venue_id(part) for part in parts):
        return _papers_page(request, session, searcher, list(dict.fromkeys(parts)), feed=feed)
    venue, year = _edition_of(session, spec)
    if feed:
        papers = edition_papers(session, venue=venue, year=year, group=group, limit=FEED_SIZE)
        return _atom(request, session, papers, title=f"{venue}.{year}", alternate=f"/venue/{venue}.{year}")
    stamp = edition_stamp(session, venue=venue, year=year)
    count = stamp[2]  # all read by the render, however few are shown (a slot past HEAVY_PAPERS)

    def render() -> str:
        return _render_edition(session, venue, year, group=group, show=show, skip=skip, sort=sort)

    if sort.strip() == "popular":  # counters change by the minute: never kept nor revalidated

        def uncached() -> Response:
            return HTMLResponse(render(), headers=UNCACHED)

        return HeavyRender(str(request.url), uncached) if heavy(count) else uncached()
    checked = validate(request, stamp=stamp, fresh_seconds=get_settings().page_fresh_seconds)
    if checked.not_modified:
        return checked.not_modified
    return kept_or_rendered(request, checked, count, media_type=HTML, make=lambda: render().encode())


def _edition_of(session: Session, spec: str) -> tuple[str, int]:
    """`ICLR.2024` -> ("ICLR", 2024); `ICLR` -> its latest stored edition; else NotFoundError."""
    match = _EDITION_RE.match(spec)
    token, year = (match.group(1), int(match.group(2))) if match else (spec, None)
    venue = stored_venue(session, token)
    if venue is None:
        raise NotFoundError(f"no venue {token!r} in this instance")
    if year is None:  # `ICLR`: its latest edition (`ICLR.0000` names none)
        year = latest_year(session, venue)
    if year is None or not edition_count(session, venue=venue, year=year):
        raise NotFoundError(f"no edition {venue}.{year} in this instance")
    return venue, year


def _render_edition(
    session: Session, venue: str, year: int, *, group: str | None, show: int, skip: int, sort: str
) -> str:
    papers = edition_papers(session, venue=venue, year=year, group=group)
    if sort.strip() not in ("", "arxiv", "foryou"):
        papers = sort_papers(session, papers, sort=sort.strip(), model=get_settings().embed_model)
    [summary] = edition_summaries(session, venue=venue, year=year)
    context = {"edition": summary, "group": group, "papers": papers[skip : skip + show], "total": len(papers),
               "show": show, "skip": skip, "sort": sort}  # fmt: skip
    return templates.get_template("venue.html").render(context)


def _papers_page(
    request: Request, session: Session, searcher: SearcherDep, ids: list[str], *, feed: bool
) -> Response:
    papers = venue_papers_by_id(session, ids)
    if not papers:
        raise NotFoundError(f"{', '.join(ids)} is not in this instance")
    if feed:
        return _atom(request, session, papers, title=",".join(ids), alternate=f"/venue/{','.join(ids)}")
    related = searcher.related(papers[0], k=10) if len(papers) == 1 else None
    shown: list[tuple[object, ...]] = [(p.arxiv_id, p.revision) for p in papers]
    shown += [(h.paper.arxiv_id, h.paper.revision, f"{h.score:.3f}") for h in related or []]
    checked = validate(request, stamp=shown, fresh_seconds=get_settings().page_fresh_seconds)
    if checked.not_modified:
        return checked.not_modified
    context = {"papers": papers, "ids": ids, "related": related}
    return templates.TemplateResponse(request, "venue_papers.html", context, headers=checked.headers)


def _atom(request: Request, session: Session, papers: list[Paper], *, title: str, alternate: str) -> Response:
    """Atom, like the arXiv feeds: each entry with its abstract and, when cached, its FAQ."""
    context = {"request": request, "papers": papers, "faqs": cached_faqs(session, [p.id for p in papers]),
               "title": title, "alternate": alternate}  # fmt: skip
    xml = templates.get_template("venue_feed.xml").render(context)
    # As the arXiv feeds: escaping leaves control characters (a source's stray \x01), which XML 1.0 forbids.
    return Response(xml_safe(xml), media_type="application/atom+xml")
