"""Records parsed from conference sources. Plain dataclasses: no I/O, no ORM.

A venue paper is named as papers.cool names it: `{source id}@{Source}` (`GMwRl2e9Y1@OpenReview`,
`2024.acl-long.1@ACL`, `aamand23a@v202@PMLR`). That string is the paper's key everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

SourceName = Literal["openreview", "acl", "pmlr", "cvf", "neurips"]
SOURCES: tuple[SourceName, ...] = ("openreview", "acl", "pmlr", "cvf", "neurips")

# The suffix papers.cool puts after the source id. OpenReview, ACL and PMLR are confirmed by its
# browser extension; CVF and NeurIPS are inferred (see tests/data/venues/README.md).
ID_SUFFIX: dict[SourceName, str] = {
    "openreview": "OpenReview",
    "acl": "ACL",
    "pmlr": "PMLR",
    "cvf": "CVF",
    "neurips": "NeurIPS",
}


@dataclass(frozen=True, slots=True)
class VenuePaper:
    """One accepted paper of one edition of a venue, with what a `papers` row and a venue card need."""

    source: SourceName
    # Unique within the source: forum id, Anthology id, "aamand23a@v202", CVF stem, NeurIPS hash.
    source_id: str
    venue: str  # "ICLR", "ACL", "COLT" — the token of papers.cool's /venue/{Venue}.{Year}
    year: int
    group: str | None  # "Oral", "Spotlight", "Poster", "Long Papers", "Findings" ...; None without groups
    title: str  # plain text; math kept as $...$ for KaTeX
    authors: tuple[str, ...]
    abstract: str  # plain text, math as $...$; "" when the source gives none
    pdf_url: str | None
    url: str  # the paper's landing page at the source (the "#n" link of a card)
    arxiv_id: str | None = None  # when the source names the arXiv version
    doi: str | None = None
    keywords: tuple[str, ...] = ()

    @property
    def paper_id(self) -> str:
        """papers.cool's id: `{source id}@{Source}` ("GMwRl2e9Y1@OpenReview", "aamand23a@v202@PMLR")."""
        return f"{self.source_id}@{ID_SUFFIX[self.source]}"

    @property
    def edition(self) -> str:
        """`ICLR.2024`: the edition as papers.cool writes it in URLs."""
        return f"{self.venue}.{self.year}"

    @property
    def subject(self) -> str:
        """`ICLR.2024 - Oral` (or just `CVPR.2024`): the Subject line of a venue card."""
        return f"{self.edition} - {self.group}" if self.group else self.edition


@dataclass(frozen=True, slots=True)
class VenueDocument:
    """One parsed document: its kind, its papers, and the total the source announces when it pages."""

    kind: str  # "openreview-v2", "openreview-v1", "acl-xml", "pmlr-bibtex", "pmlr-posts", "cvf-listing" ...
    papers: tuple[VenuePaper, ...]
    total: int | None = None  # OpenReview `count`: papers in all pages together
    notes_read: int = 0  # OpenReview: notes on this page, rejected ones too (what paging's `offset` counts)


_VENUE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-@]{0,179}@(?:" + "|".join(ID_SUFFIX.values()) + r")$")


def is_venue_id(raw: str) -> bool:
    """True for papers.cool's id of a venue paper: `GMwRl2e9Y1@OpenReview`, `aamand23a@v202@PMLR` ..."""
    return _VENUE_ID_RE.match(raw.strip()) is not None
