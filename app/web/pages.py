"""HTML pages at papers.cool's URLs: `/`, `/arxiv/{cats}`, `/arxiv/{id}[,{id}...]`, `.../feed`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from sqlalchemy.orm import Session

from app.answers import keep_answer, request_key
from app.arxiv.ids import is_arxiv_id, split_arxiv_id
from app.config import get_settings
from app.deps import SearcherDep, SessionDep
from app.errors import NotFoundError
from app.lru import BoundedCache
from app.ranking.foryou import sort_papers
from app.ratelimit import rate_limit
from app.search.hybrid import Searcher
from app.store.categories import note_categories_opened
from app.store.counters import counter_totals
from app.store.fts import query_terms
from app.store.listings import (
    SECTIONS,
    CategoryQuery,
    DayStamp,
    ListingDay,
    category_days,
    day_listing,
    day_stamp,
    latest_day,
    parse_category_expression,
    read_listing,
)
from app.store.lookup import fetch_paper
from app.store.models import Paper
from app.store.papers import get_papers
from app.summarize.service import cached_faqs
from app.web.pagecache import CachedPage, CounterSlots
from app.web.templating import templates
from workers.status import pipeline_status

router = APIRouter(include_in_schema=False)
MAX_SHOW = 5000
MAX_FETCHED = 5  # unknown ids fetched from arXiv for one page
SORT_TITLES = {"popular": "Most opened first", "time": "Newest first"}
SECTION_TITLES = {"new": "New submissions", "cross": "Cross-lists", "replace": "Replacements"}
_pages: BoundedCache[CachedPage] = BoundedCache(0, weigh=lambda page: page.size)  # PAGE_CACHE_MB
HTML = "text/html; charset=utf-8"


@router.get("/healthz")
def healthz() -> PlainTextResponse:
    return PlainTextResponse("ok")


@router.get("/", response_class=HTMLResponse)
def index(request: Request, session: SessionDep) -> Response:
    days = {c.category: c for c in category_days(session)}
    followed = [days.get(cat) or cat for cat in get_settings().arxiv_categories]
    others = [c for name, c in days.items() if name not in get_settings().arxiv_categories]
    return templates.TemplateResponse(request, "index.html", {"followed": followed, "others": others})


@router.get("/stars", response_class=HTMLResponse)
def stars_page(request: Request) -> Response:
    """Starred papers: the list lives in the browser, which fetches their markup from /arxiv/{ids}."""
    return templates.TemplateResponse(request, "stars.html", {})


@router.get("/status", response_class=HTMLResponse)
def status_page(request: Request, session: SessionDep) -> Response:
    status = pipeline_status(session, get_settings())
    return templates.TemplateResponse(request, "status.html", {"status": status})


search_limit = Depends(rate_limit("search", lambda s: s.rate_search_per_minute))


@router.get("/arxiv/search/feed", dependencies=[search_limit])
def search_feed(
    request: Request, searcher: SearcherDep, query: Annotated[str, Query(min_length=1, max_length=500)]
) -> Response:
    """A search as an Atom feed: subscribe to it and it works as a keyword alert."""
    result = searcher.search(query, limit=50, offset=0)
    papers = [h.paper for h in result.hits]
    return _atom(request, searcher.session, papers, {"cats": f"search: {query}", "listing": None})


@router.get("/arxiv/search", response_class=HTMLResponse, dependencies=[search_limit])
def search_page(
    request: Request,
    searcher: SearcherDep,
    query: Annotated[str, Query(max_length=500)] = "",
    highlight: Annotated[int, Query(ge=0, le=1)] = 1,
    show: Annotated[int, Query(ge=1, le=200)] = 25,
    skip: Annotated[int, Query(ge=0, le=1800)] = 0,
    sort: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    """papers.cool's search URL: the same paper markup as listings, query words highlighted."""
    result = searcher.search(query, limit=show, offset=skip) if query.strip() else None
    context = {
        "query": query,
        "hits": result.hits if result else [],
        "total": result.total if result else 0,
        "semantic": result.semantic if result else True,
        "terms": query_terms(query) if highlight else None,
        "highlight": highlight,
        "show": show,
        "skip": skip,
    }
    return templates.TemplateResponse(request, "search.html", context)


@router.get("/arxiv/{spec:path}")
def arxiv_page(
    request: Request,
    session: SessionDep,
    searcher: SearcherDep,
    spec: str,
    date: Annotated[dt.date | None, Query()] = None,
    show: Annotated[int, Query(ge=1, le=MAX_SHOW)] = MAX_SHOW,
    skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    sort: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    """Dispatch papers.cool's one URL space: a feed, a set of paper ids, or a category listing."""
    feed = spec.endswith("/feed")
    spec = spec.removesuffix("/feed")
    parts = [part.strip() for part in spec.split(",") if part.strip()]
    if parts and all(is_arxiv_id(part) for part in parts):
        return _papers_page(request, session, searcher, parts, feed=feed)
    query = parse_category_expression(spec)
    if feed:
        listing = read_listing(session, query, day=date)
        context = {"cats": spec, "listing": listing}
        return _atom(request, session, [p.paper for p in listing.papers], context)
    day = date or latest_day(session, query)
    stamp = day_stamp(session, query, day=day) if day else None
    if stamp and stamp.count:  # only categories that exist: a crawler must not grow the fetch schedule
        note_categories_opened(session, query.include, today=dt.date.today())
        session.commit()
    # Popularity order changes with every counter: that sort is rendered each time.
    key = ("listing", spec, stamp, show, skip, sort.strip()) if stamp and sort.strip() != "popular" else None
    page = _pages.get(key) if key else None
    if page is None:
        page = _render_listing(request, session, query, stamp, cats=spec, show=show, skip=skip, sort=sort)
        if key:
            _pages.limit = get_settings().page_cache_mb * 2**20
            _pages.put(key, page)
    html = page.render(counter_totals(session, page.paper_ids))
    if key:
        keep_answer(request_key(request), html, HTML)
    return Response(html, media_type=HTML, headers={"Vary": "Accept-Encoding"})


def _render_listing(
    request: Request,
    session: Session,
    query: CategoryQuery,
    stamp: DayStamp | None,
    *,
    cats: str,
    show: int,
    skip: int,
    sort: str,
) -> CachedPage:
    """The listing page rendered with its counters left open (filled per request)."""
    listing = (
        ListingDay(stamp.day, day_listing(session, query, day=stamp.day), stamp.prev_day, stamp.next_day)
        if stamp  # its neighbouring days are read already
        else ListingDay(None, [], None, None)
    )
    sections = _sections(listing, show, skip, sort=sort, session=session)
    context = {"request": request, "cats": cats, "listing": listing, "show": show, "skip": skip,
               "sort": sort, **sections, "counts": CounterSlots()}  # fmt: skip
    return CachedPage.from_html(templates.get_template("listing.html").render(context))


def _sections(
    listing: ListingDay, show: int, skip: int, *, sort: str, session: SessionDep
) -> dict[str, object]:
    sort = sort.strip()
    if sort not in ("", "arxiv", "foryou"):  # one list in the asked order instead of sections
        ordered = sort_papers(
            session, [p.paper for p in listing.papers], sort=sort, model=get_settings().embed_model
        )
        title = SORT_TITLES.get(sort, f"Sorted by keywords: {sort}")
        return {"sections": [("sorted", title, ordered[skip : skip + show])], "sizes": {"sorted": len(ordered)},
                "total": len(listing.papers)}  # fmt: skip
    window = listing.papers[skip : skip + show]
    sections = [
        (name, SECTION_TITLES[name], [p.paper for p in window if p.section == name]) for name in SECTIONS
    ]
    sizes = {name: sum(1 for p in listing.papers if p.section == name) for name in SECTIONS}
    return {"sections": sections, "sizes": sizes, "total": len(listing.papers)}


def _papers_page(
    request: Request, session: SessionDep, searcher: Searcher, parts: list[str], *, feed: bool
) -> Response:
    ids = list(dict.fromkeys(split_arxiv_id(part)[0] for part in parts))
    papers = get_papers(session, ids)
    missing = [i for i in ids if i not in {p.arxiv_id for p in papers}][:MAX_FETCHED]
    fetched = [fetch_paper(get_settings(), i) for i in missing]  # every one, not the first only
    if any(fetched):
        session.rollback()  # end the read snapshot so the rows just committed are visible
        papers = get_papers(session, ids)
    if not papers:
        raise NotFoundError(f"{', '.join(ids)} is not in this instance")
    if feed:
        return _atom(request, session, papers, {"cats": ",".join(ids), "listing": None})
    related = searcher.related(papers[0], k=10) if len(papers) == 1 else None
    counts = counter_totals(session, [p.id for p in papers])
    context = {"papers": papers, "ids": ids, "related": related, "counts": counts}
    response = templates.TemplateResponse(request, "papers.html", context)
    keep_answer(request_key(request), bytes(response.body), HTML)
    response.headers["Vary"] = "Accept-Encoding"
    return response


def _atom(request: Request, session: Session, papers: list[Paper], context: dict[str, object]) -> Response:
    """An Atom feed of papers; each entry carries the abstract and, when cached, the FAQ."""
    faqs = cached_faqs(session, [p.id for p in papers])
    context = {**context, "papers": papers, "faqs": faqs}
    return templates.TemplateResponse(request, "feed.xml", context, media_type="application/atom+xml")
