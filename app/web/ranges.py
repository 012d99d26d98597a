"""The `?range=week|month` listing page: a category's top papers of the week or the month."""

from __future__ import annotations

import datetime as dt

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from app.ranking.ranges import RANGE_MAX_SHOW, check_range, range_listing
from app.store.listings import CategoryQuery
from app.web.templating import templates

RANGE_SHOW = 100  # papers a range page shows unless `show` asks for more (up to RANGE_MAX_SHOW)
RANGE_TITLES = {"week": "This week", "month": "This month"}
SORT_TITLES = {
    "popular": "most opened first",
    "foryou": "for you",
    "arxiv": "newest day first",
    "time": "newest first",
}


def range_page(
    request: Request,
    session: Session,
    query: CategoryQuery,
    *,
    cats: str,
    range_: str,
    sort: str,
    day: dt.date | None,
    show: int | None,
    skip: int,
) -> HTMLResponse:
    """Rendered on every request: popularity moves with each count (no ETag, no stored copy)."""
    sort = check_range(range_, sort)
    show = min(show or RANGE_SHOW, RANGE_MAX_SHOW)
    found = range_listing(session, query, range_=range_, sort=sort, day=day, skip=skip, limit=show)
    context = {
        "request": request,
        "cats": cats,
        "found": found,
        "sort": sort,
        "show": show,
        "skip": skip,
        "heading": f"{RANGE_TITLES[range_]}, {SORT_TITLES[sort]}",
    }
    html = templates.get_template("range.html").render(context)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})
