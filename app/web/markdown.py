"""`/arxiv/{id}.md`: a paper as Markdown for agents and scripts (title, authors, abstract, the FAQ)."""

from __future__ import annotations

import html
import re
from urllib.parse import quote

from fastapi import APIRouter, Request, Response

from app.arxiv.ids import abs_url, pdf_url, split_arxiv_id
from app.deps import SessionDep, SettingsDep
from app.errors import FeedParseError, InvalidQueryError, NotFoundError
from app.ratelimit import client_address, lookup_allowance
from app.store.lookup import get_or_fetch_paper
from app.store.models import Paper
from app.store.papers import as_utc
from app.summarize.render import safe_link
from app.summarize.service import cached_faqs

router = APIRouter(include_in_schema=False)
MARKDOWN = "text/markdown; charset=utf-8"

# Raw HTML is Markdown too, and most renderers show it as markup: what a feed or the model wrote is
# made inert: a tag's "<" is written "&lt;" (read as "<"), and a link to anything but http(s) or
# mailto points within the page ("#" before it), as the site's own rendering refuses it.
_TAG_RE = re.compile(r"<(?=[A-Za-z/!?])")
_DESTINATION_RE = re.compile(r"(\]\(\s*<?|^ {0,3}\[[^\]]+\]:\s*<?)([^\s)>]*)", re.MULTILINE)


@router.get("/arxiv/{arxiv_id:path}.md")
def paper_markdown(request: Request, session: SessionDep, settings: SettingsDep, arxiv_id: str) -> Response:
    """One paper as Markdown; a paper not stored yet is fetched from arXiv first, as its page is."""
    try:
        wanted = split_arxiv_id(arxiv_id)[0]
    except FeedParseError as exc:
        raise InvalidQueryError(str(exc)) from exc
    allowed = lookup_allowance(settings, client_address(request))
    paper = get_or_fetch_paper(session, settings, wanted, may_start=allowed)
    if paper is None:
        raise NotFoundError(f"arXiv does not know the paper {wanted}")
    faq = cached_faqs(session, [paper.id]).get(paper.id, [])
    return Response(paper_as_markdown(paper, faq), media_type=MARKDOWN)


def paper_as_markdown(paper: Paper, faq: list[dict[str, str]]) -> str:
    """Title, metadata, abstract and (when one was generated) the FAQ, as one Markdown document."""
    published = as_utc(paper.published_at)
    lines = [
        f"# {inert(' '.join(paper.title.split()))}",
        "",
        f"- arXiv: [{paper.arxiv_id}]({abs_url(paper.arxiv_id, paper.version)})"
        f" · [PDF]({pdf_url(paper.arxiv_id, paper.version)})",
        f"- Authors: {inert(', '.join(paper.authors))}",
        f"- Categories: {', '.join(paper.categories)}",
    ]
    if published is not None:
        lines.append(f"- Published: {published.date().isoformat()}")
    # The detail lines of the paper's page (its `Shown` fields, declared once in app/arxiv/types.py).
    lines += [f"- {shown.label}: {_linked(inert(value), shown.link)}" for shown, value in paper.details]
    lines += ["", "## Abstract", "", inert(paper.abstract.strip())]
    if faq:
        lines += ["", "## FAQ"]
        for pair in faq:
            question, answer = pair.get("question", "").strip(), pair.get("answer", "").strip()
            lines += ["", f"### {inert(question)}", "", inert(answer)]
    return "\n".join(lines) + "\n"


def _linked(value: str, link: str | None) -> str:
    return f"[{value}]({link.format(quote(value))})" if link else value


def inert(text: str) -> str:
    """`text` as Markdown that no renderer turns into markup or a script link."""
    return _DESTINATION_RE.sub(_checked_destination, _TAG_RE.sub("&lt;", text))


def _checked_destination(match: re.Match[str]) -> str:
    head, url = match.groups()
    if not url or url.startswith("#") or safe_link(html.unescape(url)):
        return match.group(0)
    return f"{head}#{url}"
