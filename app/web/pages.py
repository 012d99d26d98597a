"""HTML pages at papers.cool's URLs: `/`, `/arxiv/{cats}`, `/arxiv/{id}[,{id}...]`, `.../feed`."""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Annotated, Literal, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from sqlalchemy.orm import Session

from app.arxiv.ids import is_arxiv_id, split_arxiv_id
from app.config import get_settings
from app.deps import FormDate, SearcherDep, SessionDep
from app.errors import FeedParseError, InvalidQueryError, NotFoundError
from app.httpcache import UNCACHED, validate
from app.ranking.foryou import sort_papers
from app.ratelimit import client_address, lookup_allowance, rate_limit
from app.renders import (
    HeavyRender,
    OffPageThreads,
    heavy,
    kept_or_rendered,
    on_page_threads,
)
from app.search.hybrid import Searcher, SearchFilters
from app.status import pipeline_status
from app.store.categories import note_categories_opened
from app.store.fts import query_terms
from app.store.listings import (
    SECTIONS,
    CategoryQuery,
    DayStamp,
    ListingDay,
    category_days,
    parse_category_expression,
    stamp_of,
    stamped_listing,
)
from app.store.lookup import Lookup, start_lookup, wait_for_lookups
from app.store.models import Paper
from app.store.papers import get_paper, get_papers
from app.store.popularity import popularity_stamp
from app.store.venues import edition_summaries
from app.summarize.service import cached_faqs
from app.web.ranges import range_page
from app.web.routing import PAGE_SPEC
from app.web.templating import templates
from app.xmlchars import xml_safe

router = APIRouter(include_in_schema=False)
# Papers on one listing page at most: papers.cool shows a whole day, and so does this up to here;
# larger days page with `skip` (the page's "next" link). A 5,000-paper page took ~60 MB to render.
MAX_SHOW = 2000
MAX_FETCHED = 5  # unknown ids fetched from arXiv for one page
# A page waits this long for the arXiv lookups it starts (arXiv answers most within a second), then
# answers with a page that polls while they go on: it never holds a reader for arXiv's retries.
LOOKUP_GRACE = 1.0
MAX_IDS = 200  # ids of one /arxiv/<ids> page or feed, as the API's papers endpoint allows
SORT_TITLES = {"popular": "Most opened first", "time": "Newest first"}
SECTION_TITLES = {"new": "New submissions", "cross": "Cross-lists", "replace": "Replacements"}
HTML = "text/html; charset=utf-8"
JSON = "application/json"
# Cosine similarity a vector neighbour needs to be shown on the search page (all-MiniLM-L6-v2: an
# unrelated text scores ~0.0-0.2 against a query, a paper on its topic ~0.3 and up).
SEARCH_PAGE_FLOOR = 0.25


@router.get("/healthz")
async def healthz() -> PlainTextResponse:
    # On the event loop: no request thread, no database. Renders hold every thread of the pool at
    # times, and a liveness probe must not queue behind them.
    return PlainTextResponse("ok")


@router.get("/", response_class=HTMLResponse)
@on_page_threads
def index(request: Request, session: SessionDep) -> Response:
    days = {c.category: c for c in category_days(session)}
    followed = [days.get(cat) or cat for cat in get_settings().arxiv_categories]
    others = [c for name, c in days.items() if name not in get_settings().arxiv_categories]
    editions = edition_summaries(session)  # the venues section (app/web/venues.py)
    context = {"followed": followed, "others": others, "editions": editions}
    return templates.TemplateResponse(request, "index.html", context)


@router.get("/stars", response_class=HTMLResponse)
def stars_page(request: Request) -> Response:
    """Starred papers: the list lives in the browser, which fetches their markup from /arxiv/{ids}."""
    return templates.TemplateResponse(request, "stars.html", {})


@router.get("/status", response_class=HTMLResponse)
@on_page_threads
def status_page(request: Request, session: SessionDep) -> Response:
    status = pipeline_status(session, get_settings())
    return templates.TemplateResponse(request, "status.html", {"status": status})


search_limit = Depends(rate_limit("search", lambda s: s.rate_search_per_minute))


@router.get("/arxiv/search/feed", dependencies=[search_limit])
@on_page_threads
def search_feed(
    request: Request,
    searcher: SearcherDep,
    query: Annotated[str, Query(max_length=500)] = "",
    author: Annotated[str, Query(max_length=300)] = "",
) -> Response:
    """A search as an Atom feed: subscribe to it and it works as a keyword alert. `author=` is the
    feed of one author's papers (the search page's `author=`, newest first): following an author."""
    if author.strip():
        result = searcher.by_author(author.strip(), filters=SearchFilters(), limit=50, offset=0)
        title = f"author: {author.strip()}"
    elif query.strip():
        result, title = searcher.search(query, limit=50, offset=0), f"search: {query}"
    else:
        raise InvalidQueryError("query or author: a feed needs one of them")
    papers = [h.paper for h in result.hits]
    page = "/arxiv/search?" + urlencode({"author": author.strip()} if author.strip() else {"query": query})
    return _atom(request, searcher.session, papers, {"cats": title, "alternate": page})


@router.get("/arxiv/search", response_class=HTMLResponse, dependencies=[search_limit])
@on_page_threads
def search_page(
    request: Request,
    searcher: SearcherDep,
    query: Annotated[str, Query(max_length=500)] = "",
    highlight: Annotated[int, Query(ge=0, le=1)] = 1,
    show: Annotated[int, Query(ge=1, le=200)] = 25,
    skip: Annotated[int, Query(ge=0, le=1800)] = 0,
    sort: Annotated[str, Query(max_length=500)] = "",
    category: Annotated[str, Query(max_length=200)] = "",
    date_from: Annotated[FormDate, Query(alias="from")] = None,
    date_to: Annotated[FormDate, Query(alias="to")] = None,
    author: Annotated[str, Query(max_length=300)] = "",
) -> Response:
    """papers.cool's search URL: the same paper markup as listings, query words highlighted; the
    API's category and date filters; `author=` lists that author's papers (an exact name match)."""
    if date_from and date_to and date_from > date_to:
        raise InvalidQueryError("from must not be after to")
    filters = SearchFilters(
        parse_category_expression(category) if category.strip() else None, date_from, date_to
    )
    if author.strip():
        result = searcher.by_author(author.strip(), filters=filters, limit=show, offset=skip)
    elif query.strip():
        result = searcher.search(
            query, filters=filters, limit=show, offset=skip, min_similarity=SEARCH_PAGE_FLOOR
        )
    else:
        result = None
    shown = author.strip() or query
    context = {
        "query": query,
        "author": author.strip(),
        "category": category,
        "date_from": date_from,
        "date_to": date_to,
        "hits": result.hits if result else [],
        "total": result.total if result else 0,
        "semantic": result.semantic if result else True,
        "terms": query_terms(shown) if highlight and shown.strip() else None,
        "highlight": highlight,
        "show": show,
        "skip": skip,
    }
    return templates.TemplateResponse(request, "search.html", context)


@router.get("/arxiv/lookup")
def lookup_state(
    request: Request, session: SessionDep, paper: Annotated[str, Query(min_length=1, max_length=200)]
) -> JSONResponse:
    """Where the arXiv lookup of a paper not stored yet stands: what the pending page polls."""
    try:
        arxiv_id = split_arxiv_id(paper)[0]
    except FeedParseError as exc:
        raise InvalidQueryError(str(exc)) from exc
    if get_paper(session, arxiv_id) is not None:  # stored, maybe by another process's lookup
        lookup = Lookup(arxiv_id, "found")
    else:
        settings = get_settings()
        lookup = start_lookup(
            settings, arxiv_id, may_start=lookup_allowance(settings, client_address(request))
        )
    body = {"paper": arxiv_id, "status": lookup.status, "message": lookup.message}
    return JSONResponse(body | {"retry_after": lookup.retry_after}, headers={"Cache-Control": "no-store"})


@router.get("/arxiv/{spec:" + PAGE_SPEC + "}")
@on_page_threads
def arxiv_page(
    request: Request,
    session: SessionDep,
    searcher: SearcherDep,
    spec: str,
    date: Annotated[FormDate, Query()] = None,
    show: Annotated[int, Query(ge=1)] = MAX_SHOW,
    skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    sort: Annotated[str, Query(max_length=500)] = "",
    range_: Annotated[str | None, Query(alias="range", max_length=20)] = None,
    part: Annotated[Literal["abstracts"] | None, Query(description="a listing's lazy abstracts")] = None,
    abstracts: Annotated[Literal["all"] | None, Query(description="every abstract in the page")] = None,
) -> Response | HeavyRender[Response] | OffPageThreads[Response]:
    """Dispatch papers.cool's one URL space: a feed, a set of paper ids, or a category listing."""
    asked_show = request.query_params.get("show")  # a range view has its own default page size
    show = min(show, MAX_SHOW)  # a larger `show` (papers.cool's links may carry one) pages by MAX_SHOW
    feed = spec.endswith("/feed")
    spec = spec.removesuffix("/feed")
    parts = [part.strip() for part in spec.split(",") if part.strip()]
    if parts and all(is_arxiv_id(part) for part in parts):
        return _papers_page(request, session, searcher, parts, feed=feed)
    if any(is_arxiv_id(part) for part in parts):
        raise _mixed_ids(parts)
    query = parse_category_expression(spec)
    if range_ is not None and not feed:  # feeds stay one day's
        return range_page(request, session, query, cats=spec, range_=range_, sort=sort, day=date,
                          show=show if asked_show else None, skip=skip)  # fmt: skip
    stamp = stamp_of(session, query, day=date)
    if feed:  # a whole day: 5,000 papers are an 11 MB feed, rendered in a slot like a large page

        def feed_of_day() -> Response:
            listing = stamped_listing(session, query, stamp)
            day = f"?date={listing.day}" if listing.day else ""
            context = {"cats": spec, "listing": listing, "alternate": f"/arxiv/{spec}{day}"}
            return _atom(request, session, [p.paper for p in listing.papers], context)

        return (
            HeavyRender(str(request.url), feed_of_day)
            if heavy(stamp.count if stamp else 0)
            else feed_of_day()
        )
    # Only categories that have papers are noted: a crawler must not grow the fetch schedule.
    client, today = client_address(request), dt.date.today()
    if stamp and stamp.count and note_categories_opened(session, query.include, client=client, today=today):
        session.commit()
    # The page is the URL and the day's stamp: a client holding this version gets a 304 unrendered.
    # Popularity order changes with the counters: they join its stamp, and it is revalidated each time.
    # The day's papers are all read (sections count them, sorts order them), however few are shown.
    papers = stamp.count if stamp else 0
    version: object = stamp
    fresh = get_settings().page_fresh_seconds
    if sort.strip() == "popular" and stamp is not None:
        version, fresh = (stamp, popularity_stamp(session, query, day=stamp.day)), 0
    if part == "abstracts":  # the abstracts a browser's page left out (its own URL, kept like it)
        checked = validate(request, stamp=version, fresh_seconds=fresh)
        if checked.not_modified:
            return checked.not_modified
        make = functools.partial(_lazy_abstracts, session, query, stamp, show=show, skip=skip, sort=sort)
        return kept_or_rendered(request, checked, papers, make=make, media_type=JSON)
    # A browser's page and other clients' differ (see _eager_abstracts): each is its own version.
    eager = None if abstracts == "all" else _eager_abstracts(request, part)
    variant = "" if eager is None else "\nbrowser"
    checked = validate(request, stamp=(version, variant), fresh_seconds=fresh, vary="Sec-Fetch-Mode")
    if checked.not_modified:
        return checked.not_modified
    return kept_or_rendered(
        request,
        checked,
        papers,
        media_type=HTML,
        variant=variant,
        make=lambda: _render_listing(
            request, session, query, stamp, cats=spec, show=show, skip=skip, sort=sort, eager=eager
        ).encode(),
    )


def _eager_abstracts(request: Request, part: str | None) -> int | None:
    """How many papers of a listing page carry their abstract, when not all: a browser opening the
    page gets the first LISTING_EAGER_ABSTRACTS, and the rest in a second request started from the
    page's head (static/js/early.js). A 2,000-paper day's first transfer had every abstract: 928 KB
    in brotli, 569 KB of it abstracts. Other clients (feed readers, RSSHub, scripts: no
    Sec-Fetch-Mode) and `?abstracts=all` get every abstract in the page, as papers.cool sends it."""
    if part is not None or request.headers.get("sec-fetch-mode") != "navigate":
        return None
    return get_settings().listing_eager_abstracts


def _mixed_ids(parts: list[str]) -> InvalidQueryError:
    """The error for a list of paper ids with something else in it: which part, and what it is."""
    odd = next(part for part in parts if not is_arxiv_id(part))
    try:
        parse_category_expression(odd)
    except InvalidQueryError:
        return InvalidQueryError(f"{odd[:40]!r} is neither an arXiv id nor a category")
    return InvalidQueryError(f"a page lists paper ids or categories, not both: {odd[:40]!r} is a category")


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
    eager: int | None = None,
) -> str:
    """The listing page: its papers in papers.cool's markup, counters left for site.js to fill; past
    the first `eager` papers (when given and fewer than shown), abstracts left for abstracts.js."""
    listing = stamped_listing(session, query, stamp)
    sections = _sections(listing, show, skip, sort=sort, session=session)
    lazy = eager is not None and len(_shown(sections)) > eager
    context = {"request": request, "cats": cats, "listing": listing, "show": show, "skip": skip,
               "sort": sort, "eager": eager if lazy else None, **sections}  # fmt: skip
    if lazy:  # where the page's later abstracts come from, and the page with all of them
        context |= {
            "abstracts_url": _with(request, part="abstracts"),
            "all_abstracts_url": _with(request, abstracts="all"),
        }
    return templates.get_template("listing.html").render(context)


def _with(request: Request, **params: str) -> str:
    """This page's path and query with `params` set."""
    url = request.url.include_query_params(**params)
    return f"{url.path}?{url.query}"


def _lazy_abstracts(
    session: Session, query: CategoryQuery, stamp: DayStamp | None, *, show: int, skip: int, sort: str
) -> bytes:
    """`{"abstracts": {id: abstract}}` of the papers a browser's page of this URL shows without one."""
    listing = stamped_listing(session, query, stamp)
    sections = _sections(listing, show, skip, sort=sort, session=session)
    later = _shown(sections)[get_settings().listing_eager_abstracts :]
    return json.dumps({"abstracts": {p.arxiv_id: p.abstract for p in later}}, ensure_ascii=False).encode()


def _shown(sections: dict[str, object]) -> list[Paper]:
    """The papers of a page's sections, in the page's order."""
    groups = cast("list[tuple[str, str, list[Paper]]]", sections["sections"])
    return [paper for _, _, papers in groups for paper in papers]


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
) -> Response | OffPageThreads[Response]:
    ids = list(dict.fromkeys(split_arxiv_id(part)[0] for part in parts))
    if len(ids) > MAX_IDS:
        raise InvalidQueryError(f"at most {MAX_IDS} paper ids per page, not {len(ids)}")
    papers = get_papers(session, ids)
    if len(papers) < len(ids):  # arXiv is asked, and waited for up to LOOKUP_GRACE: off the page threads
        return OffPageThreads(
            lambda: _papers_after_lookups(request, session, searcher, ids, papers, feed=feed)
        )
    return _shown_papers(request, session, searcher, ids, papers, feed=feed)


def _papers_after_lookups(
    request: Request, session: Session, searcher: Searcher, ids: list[str], papers: list[Paper], *, feed: bool
) -> Response:
    lookups = _look_up_missing(ids, {p.arxiv_id for p in papers}, client=client_address(request))
    if any(lookup.status == "found" for lookup in lookups):
        session.rollback()  # end the read snapshot so the rows just committed are visible
        papers = get_papers(session, ids)
    waiting = [lookup for lookup in lookups if lookup.status in ("pending", "busy", "unreachable", "limited")]
    if not feed and any(lookup.status == "pending" for lookup in lookups):
        context = {"ids": ids, "lookups": lookups, "papers": papers}
        return templates.TemplateResponse(request, "lookup.html", context, status_code=202, headers=UNCACHED)
    if not papers:
        raise waiting[0].error() if waiting else NotFoundError(Lookup(ids[0], "unknown").message)
    return _shown_papers(request, session, searcher, ids, papers, feed=feed)


def _shown_papers(
    request: Request, session: Session, searcher: Searcher, ids: list[str], papers: list[Paper], *, feed: bool
) -> Response:
    if feed:
        return _atom(
            request, session, papers, {"cats": ",".join(ids), "alternate": f"/arxiv/{','.join(ids)}"}
        )
    related = searcher.related(papers[0], k=10) if len(papers) == 1 else None
    # The page shows these papers and the related ones with their scores: their revisions are its stamp.
    shown: list[tuple[object, ...]] = [(p.arxiv_id, p.revision, p.ingested_at) for p in papers]
    shown += [(h.paper.arxiv_id, h.paper.revision, f"{h.score:.3f}") for h in related or []]
    checked = validate(request, stamp=shown, fresh_seconds=get_settings().page_fresh_seconds)
    if checked.not_modified:
        return checked.not_modified
    context = {"papers": papers, "ids": ids, "related": related}
    return templates.TemplateResponse(request, "papers.html", context, headers=checked.headers)


def _look_up_missing(ids: list[str], stored: set[str], *, client: str) -> list[Lookup]:
    """Lookups on arXiv of the first few ids not stored, waited for LOOKUP_GRACE at most."""
    settings = get_settings()
    allowed = lookup_allowance(settings, client)
    missing = [i for i in ids if i not in stored][:MAX_FETCHED]
    lookups = [start_lookup(settings, i, may_start=allowed) for i in missing]
    pending = {lookup.arxiv_id for lookup in lookups if lookup.status == "pending"}
    if not pending:
        return lookups
    wait_for_lookups(pending, seconds=LOOKUP_GRACE)
    return [start_lookup(settings, look.arxiv_id) if look.arxiv_id in pending else look for look in lookups]


def _atom(request: Request, session: Session, papers: list[Paper], context: dict[str, object]) -> Response:
    """An Atom feed of papers; each entry carries the abstract and, when cached, the FAQ."""
    faqs = cached_faqs(session, [p.id for p in papers])
    context = {**context, "papers": papers, "faqs": faqs, "request": request}
    xml = templates.get_template("feed.xml").render(context)
    return Response(xml_safe(xml), media_type="application/atom+xml")
