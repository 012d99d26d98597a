"""Any supported venue document, recognised by its content: the offline `--file` path. Pure.

Recognised: Anthology collection XML, OpenReview API v2 and v1 `/notes` answers and crawler dumps,
Paper Copilot and glimpse-data JSON, a PMLR volume BibTeX or one Jekyll post, a CVF listing and a
NeurIPS proceedings index. The edition (venue, year) comes from the argument, else from the document,
else from the file name (`colm2024.json`, `CVPR2022.json`, `nips2018.json`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from app.errors import VenueParseError
from app.venues.acl import parse_anthology_xml
from app.venues.catalog import venue_name
from app.venues.cvf import parse_cvf_listing
from app.venues.derived import parse_glimpse, parse_papercopilot
from app.venues.neurips import parse_neurips_index
from app.venues.openreview import parse_notes_v1, parse_notes_v2
from app.venues.pmlr import parse_pmlr_bibtex, parse_pmlr_posts
from app.venues.types import VenueDocument

_NAME_EDITION_RE = re.compile(r"([A-Za-z]+)[._\-]?((?:19|20)\d{2})")


def parse_venue_file(path: Path, *, venue: str | None = None, year: int | None = None) -> VenueDocument:
    """`parse_venue_document` on a file's bytes, named by the file."""
    return parse_venue_document(path.read_bytes(), name=path.name, venue=venue, year=year)


def parse_venue_document(
    data: bytes, *, name: str, venue: str | None = None, year: int | None = None
) -> VenueDocument:
    """The document's papers, whatever supported kind it is; an unknown kind is a VenueParseError."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b"<?xml", b"<collection")):
        return parse_anthology_xml(data, venue=venue, name=name)
    if head.startswith((b"{", b"[")):
        return _parse_json(data, name=name, venue=venue, year=year)
    if head.startswith(b"---"):
        return parse_pmlr_posts([(name, data)], venue=_need_venue(venue, name))
    if head.startswith(b"@") or re.match(rb"(?:%[^\n]*\n\s*)*@", head):
        return parse_pmlr_bibtex(data, venue=_need_venue(venue, name), name=name)
    lowered = head.lower()
    if b"<html" in lowered or b"<!doctype html" in lowered:
        edition_venue, edition_year = _edition(venue, year, name)
        if b"paper-list" in data:
            return parse_neurips_index(data, venue=edition_venue, year=edition_year, name=name)
        return parse_cvf_listing(data, venue=edition_venue, year=edition_year, name=name)
    raise VenueParseError(f"{name}: not a venue document this service reads")


def _parse_json(data: bytes, *, name: str, venue: str | None, year: int | None) -> VenueDocument:
    try:
        payload = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise VenueParseError(f"{name}: not JSON ({exc}): truncated or not a venue document") from exc
    if isinstance(payload, dict) and "notes" in payload:
        edition_venue, edition_year = _edition(venue, year, name)
        notes = payload["notes"]
        v2 = isinstance(notes, list) and any(
            isinstance(note, dict)
            and isinstance(note.get("content"), dict)
            and any(isinstance(value, dict) and "value" in value for value in note["content"].values())
            for note in notes
        )
        parse = parse_notes_v2 if v2 else parse_notes_v1
        return parse(data, venue=edition_venue, year=edition_year, name=name)
    if isinstance(payload, list) and payload and isinstance(payload[0], dict) and "submissions" in payload[0]:
        block = payload[0]
        # A workshop's notes carry the conference's name in `venue`: filed under it, they became the
        # main conference's papers #1 and #2. Its invitation tells (`NIPS.cc/2018/Workshop/...`).
        workshop = next(
            (
                str(s.get("invitation"))
                for s in block.get("submissions") or []
                if "/Workshop/" in str(s.get("invitation", ""))
            ),
            None,
        )
        if workshop is not None:
            raise VenueParseError(f"{name}: a workshop's notes ({workshop}), not a conference edition's")
        crawler_venue = venue or venue_name(str(block.get("venue", "")).split(".")[0]) or ""
        crawler_year = year or int(block.get("year") or 0)
        edition_venue, edition_year = _edition(crawler_venue or None, crawler_year or None, name)
        return parse_notes_v1(data, venue=edition_venue, year=edition_year, name=name)
    edition_venue, edition_year = _edition(venue, year, name)
    if isinstance(payload, list):
        return parse_papercopilot(data, venue=edition_venue, year=edition_year, name=name)
    if isinstance(payload, dict):
        return parse_glimpse(data, venue=edition_venue, year=edition_year, name=name)
    raise VenueParseError(f"{name}: JSON of no known venue shape")


def _edition(venue: str | None, year: int | None, name: str) -> tuple[str, int]:
    if venue and year:
        return venue, year
    for match in _NAME_EDITION_RE.finditer(Path(name).name):
        known = venue_name(match.group(1))
        if known:
            return venue or known, year or int(match.group(2))
    raise VenueParseError(f"{name}: say which edition it is (venue and year): the name does not tell")


def _need_venue(venue: str | None, name: str) -> str:
    if venue:
        return venue
    for match in _NAME_EDITION_RE.finditer(Path(name).name):
        if known := venue_name(match.group(1)):
            return known
    raise VenueParseError(f"{name}: say which venue it is: the name does not tell")
