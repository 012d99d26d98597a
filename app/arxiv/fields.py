"""Field values of arXiv records: whitespace, HTML, author lists, categories, dates.

Pure helpers for `app.arxiv.parse`; none of them raises on odd input (a date that cannot be read
is None, a name list that cannot be split is kept whole).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from collections.abc import Iterable
from html.parser import HTMLParser

from app.arxiv.taxonomy import taxonomy
from app.arxiv.tex import decode_tex_accents

_AND_RE = re.compile(r"\s+and\s+|^and\s+", re.IGNORECASE)
_SUFFIX_RE = re.compile(r"^(?:Jr|Sr|II|III|IV|V)\.?$", re.IGNORECASE)
_CATEGORY_RE = re.compile(r"^[a-z][a-z\-]*(?:\.[A-Za-z\-]+)?$")
_UTC = dt.UTC


_CONTROL = dict.fromkeys([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F], " ")


def clean_text(text: str | None) -> str:
    """Collapse runs of whitespace (newlines included) to one space and strip the ends.

    Control characters (NUL above all, which PostgreSQL text refuses) become spaces first.
    """
    return " ".join(text.translate(_CONTROL).split()) if text else ""


def clean_optional(text: str | None) -> str | None:
    """`clean_text`, with None for a missing or blank value."""
    return clean_text(text) or None


def clean_title(text: str | None) -> str:
    """Whitespace normalised, TeX accents decoded outside math."""
    return decode_tex_accents(clean_text(text))


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def strip_html(text: str | None) -> str:
    """The text of an HTML fragment, tags dropped and character references decoded.

    The result is plain text (``&lt;b&gt;`` in the source becomes the characters ``<b>``); it is
    escaped where it is rendered, never trusted as markup.
    """
    if not text:
        return ""
    if "<" not in text and "&" not in text:
        return clean_text(text)
    collector = _TextCollector()
    collector.feed(text)
    collector.close()
    return clean_text("".join(collector.parts))


def drop_parenthesised(text: str) -> str:
    """Remove ``(...)`` groups, nested ones included; an unclosed ``(`` drops the rest of the text.

    One pass with a stack of open positions (a regex pass per nesting level was quadratic on
    deeply nested input): a closed group becomes one space, an unmatched ``)`` is kept.
    """
    out: list[str] = []
    opened: list[int] = []
    for char in text:
        if char == "(":
            opened.append(len(out))
            out.append(char)
        elif char == ")" and opened:
            del out[opened.pop() :]
            out.append(" ")
        else:
            out.append(char)
    if opened:
        del out[opened[0] :]
    return "".join(out)


def split_authors(text: str | None) -> tuple[str, ...]:
    """Names from an arXiv author string: ``"A, B, Jr., C and D (Univ. X)"``.

    Affiliations in parentheses are dropped, names are separated by commas and the word "and", a
    lone suffix (Jr., III ...) is joined to the name before it, TeX accents are decoded.
    """
    text = drop_parenthesised(clean_text(text))
    names: list[str] = []
    for chunk in text.split(","):
        for part in _AND_RE.split(chunk):
            name = clean_text(part)
            if not name:
                continue
            if names and _SUFFIX_RE.match(name):
                names[-1] = f"{names[-1]} {name}"
            else:
                names.append(decode_tex_accents(name))
    return tuple(names)


def unique(values: Iterable[str | None]) -> tuple[str, ...]:
    """Stripped, non-empty values in first-seen order, without repeats."""
    seen: dict[str, None] = {}
    for value in values:
        if value and (value := value.strip()):
            seen.setdefault(value, None)
    return tuple(seen)


def split_categories(text: str | None) -> tuple[str, ...]:
    """``"stat.ML cs.LG math.FA"`` -> ``("stat.ML", "cs.LG", "math.FA")``."""
    return arxiv_categories(text.split()) if text else ()


def arxiv_categories(values: Iterable[str | None]) -> tuple[str, ...]:
    """The arXiv categories among `values`, once each: feeds also tag entries with ACM and MSC
    classes ("E.1; E.4", "68W32") and sometimes `null`, which are not categories to list under."""
    return tuple(code for code in unique(values) if taxonomy().is_category(code))


def categories_in_title(title: str) -> tuple[str, ...]:
    """Categories a daily feed names: ``"cs.LG, stat.ML updates on arXiv.org"`` -> both."""
    head, found, _ = title.partition(" updates on ")
    if not found:
        return ()
    names = [name.strip() for name in head.replace("+", ",").split(",")]
    return unique(name for name in names if _CATEGORY_RE.match(name))


def categories_in_url(url: str) -> tuple[str, ...]:
    """Categories in a feed URL: ``http://rss.arxiv.org/rss/cs.LG+stat.ML`` -> both."""
    match = re.search(r"/(?:rss|atom)/([^/?#]+)", url)
    if match is None:
        return ()
    return unique(name for name in match.group(1).split("+") if _CATEGORY_RE.match(name))


def parse_rfc822(text: str | None) -> dt.datetime | None:
    """``"Thu, 24 Sep 2026 00:00:00 -0400"`` -> an aware datetime in its own offset, or None."""
    if not text:
        return None
    try:
        when = email.utils.parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=_UTC)


def parse_iso(text: str | None) -> dt.datetime | None:
    """``"2025-12-15T18:59:57Z"`` / ``"2026-09-25T00:00:00-04:00"`` -> aware datetime, or None."""
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=_UTC)


def parse_day(text: str | None) -> dt.datetime | None:
    """``"2011-01-23"`` -> midnight UTC of that day, or None."""
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        return None
    return dt.datetime(day.year, day.month, day.day, tzinfo=_UTC)


def to_utc(when: dt.datetime | None) -> dt.datetime | None:
    return when.astimezone(_UTC) if when is not None else None
