"""Paper lists compiled by others from the same sources -> venue papers. Pure: bytes in, records out.

Two public collections re-publish whole editions as JSON and are handy for offline ingestion:
- Paper Copilot (papercopilot/paperlists): a list of records with `title`, `author` (";"-joined),
  `status` (Oral / Spotlight / Poster), `abstract`, `keywords`, and links — `site` (an OpenReview
  forum), `oa` (a CVF or NeurIPS landing page), `pdf`, `arxiv`.
- glimpse-data (speedcell4/glimpse-data): an object keyed by the landing page URL, each with `title`,
  `authors` (a list), `abstract` and `volume` (oral / spotlight / poster, or "main" for no group).
The paper's source and id come from its landing page URL, so a record names the paper exactly as the
adapter for that source does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from app.errors import VenueParseError
from app.venues.cvf import cvf_links
from app.venues.neurips import neurips_links
from app.venues.text import find_arxiv_id, split_names, squash, title_case_group
from app.venues.types import SourceName, VenueDocument, VenuePaper

_OPENREVIEW_RE = re.compile(r"openreview\.net/(?:forum|pdf)\?id=([A-Za-z0-9_\-]+)")
_NO_GROUP = {"", "main", "accept", "accepted"}


def parse_papercopilot(data: bytes, *, venue: str, year: int, name: str = "document") -> VenueDocument:
    """A Paper Copilot list (`colm2024.json`, `cvpr2019.json`, `nips2018.json`)."""
    records = _load(data, name)
    if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
        raise VenueParseError(f"{name}: not a Paper Copilot list of records")
    papers = []
    for record in records:
        status = squash(_string(record.get("status")))
        if re.search(r"reject|withdraw", status, re.IGNORECASE):
            continue
        links = [_string(record.get(key)) for key in ("site", "oa", "pdf")]
        paper = _paper(
            links,
            venue=venue,
            year=year,
            group=None if status.lower() in _NO_GROUP else title_case_group(status),
            title=_string(record.get("title")),
            # `author_site` holds the names when `author` is empty (a few records of each year)
            authors=split_names(_string(record.get("author")), ";")
            or split_names(_string(record.get("author_site")), ","),
            abstract=_string(record.get("abstract")),
            pdf_url=_string(record.get("pdf")) or None,
            arxiv_id=find_arxiv_id(_string(record.get("arxiv"))),
            keywords=split_names(_string(record.get("keywords")), ";"),
            name=name,
        )
        papers.append(paper)
    return VenueDocument(kind="papercopilot", papers=tuple(papers))


def parse_glimpse(data: bytes, *, venue: str, year: int, name: str = "document") -> VenueDocument:
    """A glimpse-data edition (`ICLR2024.json`, `CVPR2022.json`, `NeurIPS2021.json`)."""
    records = _load(data, name)
    if not isinstance(records, Mapping) or not all(isinstance(r, Mapping) for r in records.values()):
        raise VenueParseError(f"{name}: not a glimpse-data object of records keyed by URL")
    papers = []
    for url, record in records.items():
        authors = record.get("authors") or []
        if not isinstance(authors, list) or not all(isinstance(a, str) for a in authors):
            raise VenueParseError(f"{name}: {url}: authors is not a list of names")
        volume = squash(_string(record.get("volume")))
        papers.append(
            _paper(
                [str(url)],
                venue=venue,
                year=year,
                group=None if volume.lower() in _NO_GROUP else title_case_group(volume),
                title=_string(record.get("title")),
                authors=tuple(squash(a) for a in authors if squash(a)),
                abstract=_string(record.get("abstract")),
                pdf_url=None,
                arxiv_id=None,
                keywords=(),
                name=name,
            )
        )
    return VenueDocument(kind="glimpse", papers=tuple(papers))


def _paper(
    links: list[str],
    *,
    venue: str,
    year: int,
    group: str | None,
    title: str,
    authors: tuple[str, ...],
    abstract: str,
    pdf_url: str | None,
    arxiv_id: str | None,
    keywords: tuple[str, ...],
    name: str,
) -> VenuePaper:
    title = squash(title)
    if not title:
        raise VenueParseError(f"{name}: a record has no title ({links[0] if links else 'no link'})")
    source, source_id, url, derived_pdf = _identify(links, name=name, title=title)
    return VenuePaper(
        source=source,
        source_id=source_id,
        venue=venue,
        year=year,
        group=group,
        title=title,
        authors=authors,
        abstract=squash(abstract),
        pdf_url=pdf_url or derived_pdf,
        url=url,
        arxiv_id=arxiv_id,
        keywords=keywords,
    )


def _identify(links: list[str], *, name: str, title: str) -> tuple[SourceName, str, str, str]:
    """(source, source id, landing page, PDF) from the first link that names a known source."""
    for link in links:
        if match := _OPENREVIEW_RE.search(link):
            forum = match.group(1)
            return (
                "openreview",
                forum,
                f"https://openreview.net/forum?id={forum}",
                (f"https://openreview.net/pdf?id={forum}"),
            )
        if cvf := cvf_links(link):
            return "cvf", cvf[0], link, cvf[1]
        if neurips := neurips_links(link):
            return "neurips", neurips[0], link, neurips[1]
    raise VenueParseError(f"{name}: record {title[:60]!r} links to no known source: {links}")


def _load(data: bytes, name: str) -> Any:
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise VenueParseError(f"{name}: not JSON ({exc}): truncated or not a paper list") from exc


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""
