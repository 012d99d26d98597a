"""Jinja2 environment, filters, and the HTML error page. Everything from data is autoescaped."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from app import __version__
from app.arxiv.ids import abs_url, pdf_url
from app.store.models import Paper
from app.store.papers import as_utc
from app.summarize.render import render_markdown

ROOT = Path(__file__).resolve().parents[2]
templates = Jinja2Templates(directory=ROOT / "templates")

_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "for",
        "from",
        "how",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "our",
        "over",
        "the",
        "their",
        "this",
        "to",
        "towards",
        "toward",
        "under",
        "using",
        "via",
        "what",
        "when",
        "which",
        "while",
        "with",
        "without",
        "we",
        "new",
        "based",
        "study",
        "approach",
        "method",
        "methods",
        "model",
        "models",
        "towards",
        "learning",
    ]
)
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9\-]{2,}")
_MATH_RE = re.compile(r"\$[^$]*\$")


def key_terms(title: str, limit: int = 5) -> str:
    """A few key terms of a title for the `keywords` attribute papers.cool tools read."""
    words = _WORD_RE.findall(_MATH_RE.sub(" ", title))
    terms = [w for w in dict.fromkeys(words) if w.lower() not in _STOPWORDS]
    return ",".join(terms[:limit])


def highlight(text: str, terms: list[str] | None) -> Markup:
    """Escape `text`, then wrap whole-word matches of `terms` in <mark>, leaving $math$ untouched."""
    if not terms:
        return escape(text)
    pattern = re.compile(r"\b(" + "|".join(re.escape(t) for t in terms) + r")\b", re.IGNORECASE)
    parts = []
    for index, chunk in enumerate(re.split(r"(\$[^$]*\$)", text)):
        escaped = str(escape(chunk))
        if index % 2 == 0:  # outside math; terms are \w+ words, so no entity is ever cut
            escaped = pattern.sub(r"<mark>\1</mark>", escaped)
        parts.append(escaped)
    return Markup("".join(parts))  # noqa: S704 - every part was escaped above


_REPO_RE = re.compile(
    r"https?://(?:www\.)?(?:github\.com|gitlab\.com|huggingface\.co|bitbucket\.org|codeberg\.org)/[\w.\-]+(?:/[\w.\-]+)?"
)


def code_url(paper: Paper) -> str | None:
    """The first code repository an abstract or comment links, for the "code" badge."""
    match = _REPO_RE.search(f"{paper.abstract} {paper.comments or ''}")
    return match.group(0).rstrip(".") if match else None


def utc_stamp(value: dt.datetime | None) -> str:
    value = as_utc(value)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def paper_pdf_url(paper: Paper) -> str:
    return pdf_url(paper.arxiv_id, paper.version)


def paper_abs_url(paper: Paper) -> str:
    return abs_url(paper.arxiv_id, paper.version)


templates.env.filters["key_terms"] = key_terms
templates.env.filters["highlight"] = highlight
templates.env.filters["code_url"] = code_url
templates.env.filters["markdown"] = render_markdown
templates.env.filters["utc_stamp"] = utc_stamp
templates.env.filters["pdf_url"] = paper_pdf_url
templates.env.filters["abs_url"] = paper_abs_url
templates.env.globals["version"] = __version__
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True


_INDEX, _PDF, _KIMI = "\ue000i\ue000", "\ue000p\ue000", "\ue000k\ue000"  # private-use: never in text
FRAGMENTS_MAX = 20_000  # ~3 KB each: ~60 MB at most
_fragments: OrderedDict[tuple[object, ...], str] = OrderedDict()
_fragments_lock = threading.Lock()


def _fragment_key(paper: Paper) -> tuple[object, ...]:
    # Everything the markup shows: a new version, or details filled in later, make a new key.
    return (paper.id, paper.version, paper.title, paper.abstract, paper.comments, paper.journal_ref,
            tuple(paper.authors), tuple(paper.categories), paper.published_at)  # fmt: skip


def paper_html(paper: Paper, index: int | None, counts: Mapping[int, Mapping[str, object]]) -> Markup:
    """A paper's listing markup, rendered once per content and reused (the listing's hot path).

    The number and the counters differ per page and per minute, so the cached fragment holds
    placeholders for them. `counts` may be `CounterSlots`, for a page cached whole (pagecache).
    """
    key = _fragment_key(paper)
    with _fragments_lock:
        html = _fragments.get(key)
        if html is not None:
            _fragments.move_to_end(key)
    if html is None:
        macro = templates.env.get_template("_paper.html").module.paper_div  # type: ignore[attr-defined]
        html = str(macro(paper, _INDEX, None, None, {paper.id: {"pdf": _PDF, "kimi": _KIMI}}))
        with _fragments_lock:
            _fragments[key] = html
            while len(_fragments) > FRAGMENTS_MAX:
                _fragments.popitem(last=False)
    stars = counts.get(paper.id, {})
    html = html.replace(_INDEX, str(index) if index is not None else "").replace(
        _PDF, str(stars.get("pdf", 0))
    )
    return Markup(html.replace(_KIMI, str(stars.get("kimi", 0))))  # noqa: S704 - rendered by the autoescaping template


templates.env.globals["paper_html"] = paper_html


def render_error(request: Request, *, status: int, detail: str) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "detail": detail}, status_code=status
    )
