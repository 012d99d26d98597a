"""Model output to safe HTML: Markdown without raw HTML, links checked, math left for KaTeX."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.token import Token
from markupsafe import Markup
from mdit_py_plugins.dollarmath import dollarmath_plugin

_SAFE_SCHEMES = ("http://", "https://", "mailto:")


def _markdown() -> MarkdownIt:
    # "commonmark" with html=False: raw HTML in the output is shown as text, never as markup.
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table")
    # `$...$` and `$$...$$` are math, out of Markdown's reach (no emphasis from `a_1 * b_2`).
    dollarmath_plugin(
        md, allow_labels=False, allow_digits=False, double_inline=True, renderer=_math_for_katex
    )
    md.add_render_rule("math_inline_double", _display_math_in_a_paragraph)
    md.add_render_rule("image", _image_as_a_link)
    md.validateLink = safe_link  # type: ignore[method-assign]
    return md


def safe_link(url: str) -> bool:
    """Only http(s) and mailto links (no javascript:, data:, vbscript:, relative tricks)."""
    cleaned = re.sub(r"[\x00-\x20]", "", url).lower()
    return cleaned.startswith(_SAFE_SCHEMES)


def _math_for_katex(tex: str, options: dict[str, Any]) -> str:
    """The TeX escaped, back in its delimiters: KaTeX's auto-render typesets it in the browser."""
    return escapeHtml(f"$${tex}$$" if options["display_mode"] else f"${tex}$")


def _display_math_in_a_paragraph(self: Any, tokens: Sequence[Token], idx: int, *_: Any) -> str:
    # Kept by hand: the plugin's <div> for `$$...$$` inside a paragraph is invalid in a <p>.
    tex = _math_for_katex(tokens[idx].content.strip(), {"display_mode": True})
    return f'<span class="math display">{tex}</span>'


def _image_as_a_link(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    # An image would be fetched by every reader's browser and feed reader from wherever the model
    # (or a prompt injected through a paper) pointed it: a link to it, named by its alt text, instead.
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    alt = self.renderInlineAsText(token.children or [], options, env)
    return f'<a href="{escapeHtml(src)}">{escapeHtml(alt or src)}</a>'


_MD = _markdown()


def render_markdown(text: str) -> Markup:
    """Markdown to HTML; `$...$` math is kept from Markdown and rendered by KaTeX in the browser.

    A ready answer never changes and every reader of a paper asks for the same six: the HTML of
    recent texts is kept (a cached FAQ is then served without rendering Markdown again).
    """
    return Markup(_render(text))  # noqa: S704 - see _render


@lru_cache(maxsize=4096)
def _render(text: str) -> str:
    # markdown-it with html=False escapes all text; links are checked
    html: str = _MD.render(text)
    return html.replace("<a href=", '<a rel="nofollow noopener noreferrer" target="_blank" href=')


def render_markdown_uncached(text: str) -> Markup:
    """`render_markdown` for text still being written (a streamed answer): each partial is rendered
    once, so it stays out of the cache that ready answers live in."""
    return Markup(_render.__wrapped__(text))  # noqa: S704 - see _render
