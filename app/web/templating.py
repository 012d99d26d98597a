"""Jinja2 environment, filters, and the HTML error page. Everything from data is autoescaped."""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import runpy
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from app import __version__
from app.arxiv.ids import abs_url, pdf_url
from app.arxiv.taxonomy import taxonomy
from app.store.models import Paper
from app.store.papers import as_utc
from app.summarize.prompts import languages
from app.summarize.render import render_markdown
from app.web.picker import category_groups
from app.web.static import static_url

ROOT = Path(__file__).resolve().parents[2]
templates = Jinja2Templates(directory=ROOT / "templates")


def english_stop_words() -> frozenset[str]:
    """scikit-learn's English stop words (the Glasgow IR group's list), run from their file alone:
    `import sklearn` costs a web process ~85 MB, and a listing needs only this list."""
    spec = importlib.util.find_spec("sklearn")
    folder = spec.submodule_search_locations if spec is not None else None
    source = Path(folder[0]) / "feature_extraction" / "_stop_words.py" if folder else None
    if source is not None and source.is_file():
        return frozenset(runpy.run_path(str(source))["ENGLISH_STOP_WORDS"])
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # a release that moved the file

    return frozenset(ENGLISH_STOP_WORDS)


# That list, plus words every other arXiv title uses (they tell nothing apart).
_STOPWORDS = english_stop_words() | {"using", "new", "based", "study", "approach", "method", "methods",
                                     "model", "models", "learning"}  # fmt: skip
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9\-]{2,}")
_INLINE_MATH_RE = re.compile(r"\$[^$]*\$")  # a title's $...$: no key terms in it


def key_terms(title: str, limit: int = 5) -> str:
    """A few key terms of a title for the `keywords` attribute papers.cool tools read."""
    words = _WORD_RE.findall(_INLINE_MATH_RE.sub(" ", title))
    terms = [w for w in dict.fromkeys(words) if w.lower() not in _STOPWORDS]
    return ",".join(terms[:limit])


def highlight(text: str, terms: list[str] | None) -> Markup:
    """Escape `text`, then wrap whole-word matches of `terms` in <mark>, leaving $math$ untouched."""
    if not terms:
        return escape(text)
    pattern = re.compile(r"\b(" + "|".join(re.escape(t) for t in terms) + r")\b", re.IGNORECASE)
    parts = []
    for index, chunk in enumerate(re.split(r"(\$[^$]*\$)", text)):
        if index % 2:  # math, left whole for KaTeX
            parts.append(str(escape(chunk)))
            continue
        # Matched in the text, escaped piece by piece: a term matched in the escaped text would cut
        # its entities ("amp" in "H&amp;E").
        at = 0
        for match in pattern.finditer(chunk):
            parts += [str(escape(chunk[at : match.start()])), f"<mark>{escape(match.group(0))}</mark>"]
            at = match.end()
        parts.append(str(escape(chunk[at:])))
    return Markup("".join(parts))  # noqa: S704 - every part was escaped above


_REPO_RE = re.compile(
    r"https?://(?:www\.)?(?:github\.com|gitlab\.com|huggingface\.co|bitbucket\.org|codeberg\.org)/[\w.\-]+(?:/[\w.\-]+)?"
)


def code_url(paper: Paper) -> str | None:
    """The first code repository an abstract or comment links, for the "code" badge."""
    match = _REPO_RE.search(f"{paper.abstract} {paper.comments or ''}")
    return match.group(0).rstrip(".") if match else None


def arxiv_categories(codes: list[str] | None) -> list[str]:
    """The codes that are arXiv categories: ACM / MSC classes ("E.1; E.4", "68W32") and `null`, which
    older records carry among them, are not listings and are never linked or put in a feed."""
    return [code for code in codes or () if taxonomy().is_category(code)]


def utc_stamp(value: dt.datetime | None) -> str:
    value = as_utc(value)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def atom_time(value: dt.datetime | None, *fallbacks: dt.datetime | None) -> str:
    """The first of `value` and `fallbacks` that is set, as Atom's date (RFC 3339, UTC); the epoch
    when none is (Atom requires one: an empty `<updated>` or a bare `Z` is an invalid feed)."""
    first = next((as_utc(v) for v in (value, *fallbacks) if v is not None), None)
    return (first or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def paper_pdf_url(paper: Paper) -> str:
    if paper.source != "arxiv" and paper.venue_entry is not None:  # a venue paper: its source's PDF
        return paper.venue_entry.pdf_url or paper.venue_entry.url
    return pdf_url(paper.arxiv_id, paper.version)


def paper_abs_url(paper: Paper) -> str:
    if paper.source != "arxiv" and paper.venue_entry is not None:  # its landing page at the source
        return paper.venue_entry.url
    return abs_url(paper.arxiv_id, paper.version)


templates.env.filters["key_terms"] = key_terms
templates.env.filters["highlight"] = highlight
templates.env.filters["code_url"] = code_url
templates.env.filters["markdown"] = render_markdown
templates.env.filters["utc_stamp"] = utc_stamp
templates.env.filters["atom_time"] = atom_time
templates.env.filters["arxiv_categories"] = arxiv_categories
templates.env.filters["category_name"] = lambda code: taxonomy().name_of(code) or code
templates.env.filters["pdf_url"] = paper_pdf_url
templates.env.filters["abs_url"] = paper_abs_url
templates.env.globals["version"] = __version__
templates.env.globals["static_url"] = static_url
templates.env.globals["translation_languages"] = languages  # the toolbar's language select
templates.env.globals["category_groups"] = category_groups  # the picker (_category_picker.html)
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True


def render_error(request: Request, *, status: int, detail: str) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "detail": detail}, status_code=status
    )
