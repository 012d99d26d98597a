"""Model output to safe HTML: Markdown without raw HTML, links checked, math left for KaTeX."""

from __future__ import annotations

import re
from functools import lru_cache

from markdown_it import MarkdownIt
from markupsafe import Markup, escape

_MATH_RE = re.compile(r"(\$\$.+?\$\$|\$[^$\n]+?\$)", re.DOTALL)
_SAFE_SCHEMES = ("http://", "https://", "mailto:")


def _markdown() -> MarkdownIt:
    # "commonmark" with html=False: raw HTML in the output is shown as text, never as markup.
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table")
    md.validateLink = _safe_link  # type: ignore[method-assign]
    return md


def _safe_link(url: str) -> bool:
    """Only http(s) and mailto links (no javascript:, data:, vbscript:, relative tricks)."""
    cleaned = re.sub(r"[\x00-\x20]", "", url).lower()
    return cleaned.startswith(_SAFE_SCHEMES)


_MD = _markdown()


def render_markdown(text: str) -> Markup:
    """Markdown to HTML; `$...$` math is shielded from Markdown and rendered by KaTeX in the browser.

    A ready answer never changes and every reader of a paper asks for the same six: the HTML of
    recent texts is kept (a cached FAQ is then served without rendering Markdown again).
    """
    return Markup(_render(text))  # noqa: S704 - see _render


@lru_cache(maxsize=4096)
def _render(text: str) -> str:
    shelf: list[str] = []

    def shelve(match: re.Match[str]) -> str:
        shelf.append(match.group(0))
        return f"⟦M{len(shelf) - 1}⟧"

    html = _MD.render(_MATH_RE.sub(shelve, text))
    html = re.sub(r"⟦M(\d+)⟧", lambda m: _unshelve(shelf, int(m.group(1))), html)
    # markdown-it with html=False escapes all text; links are checked
    return html.replace("<a href=", '<a rel="nofollow noopener noreferrer" target="_blank" href=')


def _unshelve(shelf: list[str], index: int) -> str:
    return str(escape(shelf[index])) if index < len(shelf) else ""
