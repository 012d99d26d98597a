"""CVF open access pages (openaccess.thecvf.com) -> venue papers. Pure: bytes in, records out.

A listing (`/CVPR2024?day=all`) is a `<dl>` of entries: `dt.ptitle > a[href=.../html/{Stem}_paper.html]`,
then a `dd` with one `form.authsearch` per author (`input[name=query_author]`, `name=query` in 2020
and before), then a `dd` with `[pdf]`, `[supp]` and a BibTeX block. A listing has no abstracts; a
paper page (`#papertitle`, `#authors`, `#abstract`) has. A listing cut short (a crawler's saved copy,
a dropped connection) loses papers silently, so a listing must end with `</html>` and every entry
must be whole — else the one error says so and no paper is taken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

from app.errors import VenueParseError
from app.venues.text import decode_html, squash
from app.venues.types import VenueDocument, VenuePaper

CVF_URL = "https://openaccess.thecvf.com"
_STEM_RE = re.compile(r"/html/(?:[^/]+/)?([^/]+_paper)\.html$")
# Elements without an end tag: they must not count as nesting inside a captured block.
VOID_ELEMENTS = frozenset(
    {"br", "img", "input", "hr", "meta", "link", "wbr", "source", "area", "col", "embed"}
)


def cvf_links(url: str) -> tuple[str, str] | None:
    """(stem, PDF URL) of a CVF paper page URL (`.../html/{Stem}_paper.html`), or None if it is not one."""
    match = _STEM_RE.search(url)
    if match is None or "thecvf.com" not in url:
        return None
    return match.group(1), url[: match.start()] + f"/papers/{match.group(1)}.pdf"


@dataclass
class _Entry:
    href: str
    title: str = ""
    authors: list[str] = field(default_factory=list)
    pdf: str | None = None


class _ListingReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.entries: list[_Entry] = []
        self.in_title = False
        self.in_anchor = False
        self.anchor_text: list[str] = []
        self.anchor_href: str | None = None
        self.ended = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "dt" and "ptitle" in (attributes.get("class") or "").split():
            self.in_title = True
        elif tag == "a":
            self.in_anchor = True
            self.anchor_text = []
            self.anchor_href = attributes.get("href")
            if self.in_title and self.anchor_href:
                self.entries.append(_Entry(href=self.anchor_href))
        elif tag == "input" and self.entries and attributes.get("name") in ("query", "query_author"):
            self.entries[-1].authors.append(squash(attributes.get("value")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "dt":
            self.in_title = False
        elif tag == "a" and self.in_anchor:
            self.in_anchor = False
            text = squash("".join(self.anchor_text))
            if self.entries and self.in_title and not self.entries[-1].title:
                self.entries[-1].title = text
            elif self.entries and text.lower() == "pdf" and self.entries[-1].pdf is None:
                self.entries[-1].pdf = self.anchor_href
        elif tag == "html":
            self.ended = True

    def handle_data(self, data: str) -> None:
        if self.in_anchor:
            self.anchor_text.append(data)


def parse_cvf_listing(
    data: bytes, *, venue: str, year: int, page_url: str = CVF_URL + "/", name: str = "document"
) -> VenueDocument:
    """Every entry of a complete listing page; links resolved against `page_url`."""
    reader = _ListingReader()
    reader.feed(decode_html(data, name))
    reader.close()
    if not reader.entries:
        raise VenueParseError(f"{name}: no dt.ptitle entry: not a CVF open access listing")
    last = reader.entries[-1]
    if not reader.ended or not last.pdf:
        raise VenueParseError(
            f"{name}: truncated CVF listing: it stops inside entry {len(reader.entries)} "
            f"({last.title[:60] or last.href!r}) without closing the page"
        )
    papers = []
    for number, entry in enumerate(reader.entries, start=1):
        url = urljoin(page_url, entry.href)
        match = _STEM_RE.search(url)
        if not match or not entry.title or not entry.pdf:
            raise VenueParseError(f"{name}: CVF entry {number} lacks a paper link, title or PDF")
        stem = match.group(1)
        papers.append(
            VenuePaper(
                source="cvf",
                source_id=stem,
                venue=venue,
                year=year,
                group=None,
                title=entry.title,
                authors=tuple(a for a in entry.authors if a),
                abstract="",
                pdf_url=urljoin(page_url, entry.pdf),
                url=url,
            )
        )
    return VenueDocument(kind="cvf-listing", papers=tuple(papers))


class _PaperPageReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.capturing: str | None = None
        self.depth = 0
        self.texts: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.capturing is not None:
            self.depth += tag not in VOID_ELEMENTS
            return
        element_id = dict(attrs).get("id")
        if element_id in ("papertitle", "abstract") and tag == "div":
            self.capturing = element_id
            self.depth = 1
            self.texts[element_id] = []

    def handle_endtag(self, tag: str) -> None:
        if self.capturing is not None and tag not in VOID_ELEMENTS:
            self.depth -= 1
            if self.depth == 0:
                self.capturing = None

    def handle_data(self, data: str) -> None:
        if self.capturing is not None:
            self.texts[self.capturing].append(data)


def parse_cvf_abstract(data: bytes, *, name: str = "document") -> str:
    """The abstract of a CVF paper page (`div#abstract`)."""
    reader = _PaperPageReader()
    reader.feed(decode_html(data, name))
    reader.close()
    if "abstract" not in reader.texts:
        raise VenueParseError(f"{name}: no div#abstract: not a CVF paper page, or truncated")
    if reader.capturing is not None:
        raise VenueParseError(f"{name}: truncated CVF paper page: it stops inside #{reader.capturing}")
    return squash("".join(reader.texts["abstract"]))
