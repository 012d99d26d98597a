"""NeurIPS proceedings (papers.nips.cc / proceedings.neurips.cc) -> venue papers. Pure: bytes in, records out.

The year index `/paper_files/paper/{year}` is a `ul.paper-list` of `li` items, each with a link to
`/paper_files/paper/{year}/hash/{hash}-Abstract.html` (2022 on: `-Abstract-Conference.html`,
`-Abstract-Datasets_and_Benchmarks….html`) and the authors (`span.paper-authors`, or `<i>` in the older
layout). The PDF is `/paper_files/paper/{year}/file/{hash}-Paper.pdf` (`-Paper-{Track}.pdf` from 2022).
An index has no abstracts: each paper's `-Abstract.html` page has one, after `<h4>Abstract</h4>`.
Both pages must end with `</html>`: a page cut short raises the one error and yields nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin

from app.errors import VenueParseError
from app.venues.text import decode_html, split_names, squash
from app.venues.types import VenueDocument, VenuePaper

NEURIPS_URL = "https://papers.nips.cc"
_PAPER_RE = re.compile(
    r"^(https?://[^/]+)/paper_files/paper/(\d{4})/hash/([0-9a-f]{32})-Abstract(?:-([A-Za-z_]+))?\.html$"
)
_TRACK_GROUPS = {"Datasets_and_Benchmarks": "Datasets and Benchmarks"}


def neurips_links(url: str) -> tuple[str, str, str | None] | None:
    """(source id, PDF URL, track) of a proceedings paper page URL, or None if it is not one.

    The source id is `{hash}@{year}`: the proceedings reuse a hash across years (2018's and 2021's
    indexes share 5 of their first 150), so the hash alone let one year's paper overwrite another's.
    The year goes in as PMLR's volume and IJCAI's year do (`aamand23a@v202@PMLR`, `1@2024@IJCAI`).
    """
    match = _PAPER_RE.match(url)
    if match is None:
        return None
    base, year, digest, track = match.groups()
    suffix = f"-{track}" if track else ""
    return f"{digest}@{year}", f"{base}/paper_files/paper/{year}/file/{digest}-Paper{suffix}.pdf", track


@dataclass
class _Item:
    href: str = ""
    title: str = ""
    authors: str = ""


class _IndexReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.items: list[_Item] = []
        self.in_list = False
        self.in_item = False
        self.capture: str | None = None  # "title" | "authors"
        self.ended = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "ul" and "paper-list" in classes:
            self.in_list = True
        elif self.in_list and tag == "li":
            self.in_item = True
            self.items.append(_Item())
        elif self.in_item and tag == "a" and not self.items[-1].href:
            self.items[-1].href = attributes.get("href") or ""
            self.capture = "title"
        elif self.in_item and (tag == "i" or (tag == "span" and "paper-authors" in classes)):
            self.capture = "authors"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("a", "i", "span"):
            self.capture = None
        elif tag == "li":
            self.in_item = False
        elif tag == "ul":
            self.in_list = False
        elif tag == "html":
            self.ended = True

    def handle_data(self, data: str) -> None:
        if self.capture == "title":
            self.items[-1].title += data
        elif self.capture == "authors":
            self.items[-1].authors += data


def parse_neurips_index(
    data: bytes, *, venue: str, year: int, page_url: str = NEURIPS_URL + "/", name: str = "document"
) -> VenueDocument:
    """Every paper of a complete year index page; links resolved against `page_url`."""
    reader = _IndexReader()
    reader.feed(decode_html(data, name))
    reader.close()
    if not reader.items:
        raise VenueParseError(f"{name}: no ul.paper-list item: not a NeurIPS proceedings index")
    if not reader.ended:
        raise VenueParseError(
            f"{name}: truncated NeurIPS index: it stops after {len(reader.items)} item(s) without closing the page"
        )
    papers = []
    for number, item in enumerate(reader.items, start=1):
        url = urljoin(page_url, item.href)
        links = neurips_links(url)
        title = squash(item.title)
        if links is None or not title:
            raise VenueParseError(f"{name}: item {number} has no paper link or title ({item.href!r})")
        source_id, pdf, track = links
        papers.append(
            VenuePaper(
                source="neurips",
                source_id=source_id,
                venue=venue,
                year=year,
                group=_TRACK_GROUPS.get(track or ""),
                title=title,
                authors=split_names(item.authors, ","),
                abstract="",
                pdf_url=pdf,
                url=url,
            )
        )
    return VenueDocument(kind="neurips-index", papers=tuple(papers))


class _AbstractReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.heading: list[str] = []
        self.in_heading = False
        self.after_abstract = False
        self.paragraphs = 0
        self.text: list[str] = []
        self.ended = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "h4":
            self.in_heading = True
            self.heading = []
            if self.after_abstract:
                self.after_abstract = False  # the next section starts
        elif tag == "p" and self.after_abstract:
            self.paragraphs += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "h4":
            self.in_heading = False
            if squash("".join(self.heading)).lower() == "abstract":
                self.after_abstract = True
        elif tag == "html":
            self.ended = True
        elif tag == "div" and self.after_abstract and self.paragraphs:
            self.after_abstract = False

    def handle_data(self, data: str) -> None:
        if self.in_heading:
            self.heading.append(data)
        elif self.after_abstract and self.paragraphs:
            self.text.append(data)


def parse_neurips_abstract(data: bytes, *, name: str = "document") -> str:
    """The abstract of a proceedings paper page (the paragraphs after `<h4>Abstract</h4>`)."""
    reader = _AbstractReader()
    reader.feed(decode_html(data, name))
    reader.close()
    if not reader.ended:
        raise VenueParseError(f"{name}: truncated NeurIPS paper page: it does not close the page")
    if not reader.paragraphs:
        raise VenueParseError(f"{name}: no <h4>Abstract</h4> section: not a NeurIPS paper page")
    return squash(" ".join(reader.text))
