"""OpenReview notes -> venue papers. Pure: bytes in, records out.

API v2 (`api2.openreview.net/notes?content.venueid=ICLR.cc/2024/Conference`) answers
`{"notes": [...], "count": N}` with every field wrapped as `content.{field}.value`; `content.venue`
("ICLR 2024 poster") names the group. API v1 (`api.openreview.net/notes?invitation=.../-/Blind_Submission
&details=directReplies`, venues before 2024) has bare `content` values, and an accepted paper is known by
its `venue` field or, in older venues, by a Decision reply. The OpenReviewCrawler dump (a list of
`{venue, year, submissions: [note + notes (replies)]}`) is read as v1.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from app.errors import VenueParseError
from app.venues.text import find_arxiv_id, squash, title_case_group
from app.venues.types import VenueDocument, VenuePaper

OPENREVIEW_URL = "https://openreview.net"
_REJECTED_RE = re.compile(r"reject|withdrawn|submitted to|desk", re.IGNORECASE)
_DECISION_ACCEPT_RE = re.compile(r"accept", re.IGNORECASE)
_PARENTHESIS_RE = re.compile(r"\(([^)]*)\)")


def parse_notes_v2(data: bytes, *, venue: str, year: int, name: str = "document") -> VenueDocument:
    """One page of API v2 `/notes`: its accepted papers and the announced `count`."""
    payload = _load(data, name)
    notes = _notes(payload, name)
    papers = [
        paper for note in notes if (paper := _paper_v2(note, venue=venue, year=year, name=name)) is not None
    ]
    return VenueDocument(
        kind="openreview-v2", papers=tuple(papers), total=_count(payload, name), notes_read=len(notes)
    )


def parse_notes_v1(data: bytes, *, venue: str, year: int, name: str = "document") -> VenueDocument:
    """One page of API v1 `/notes` (with `details.directReplies` for decisions), or a crawler dump."""
    payload = _load(data, name)
    if isinstance(payload, list):  # OpenReviewCrawler: [{venue, year, submissions: [...]}]
        notes: Sequence[Mapping[str, Any]] = [
            note for block in payload for note in _crawler_submissions(block, name)
        ]
        total = None
    else:
        notes = _notes(payload, name)
        total = _count(payload, name)
    papers = [
        paper for note in notes if (paper := _paper_v1(note, venue=venue, year=year, name=name)) is not None
    ]
    return VenueDocument(kind="openreview-v1", papers=tuple(papers), total=total, notes_read=len(notes))


def group_from_venue_label(label: str, *, venue: str, year: int) -> str | None:
    """`"ICLR 2024 poster"` -> "Poster"; `"COLM 2024"` -> None; a bare label is title-cased."""
    text = squash(label)
    for prefix in (f"{venue} {year}", f"{venue}{year}", str(year)):
        index = text.lower().find(prefix.lower())
        if index != -1:
            text = text[index + len(prefix) :]
            break
    text = text.strip(" -:,")
    if match := _PARENTHESIS_RE.search(text):  # "Accept (Oral)" -> "Oral"
        text = match.group(1)
    if text.lower() in ("accept", "accepted", "conference", "main"):
        return None
    return title_case_group(text)


def _paper_v2(note: Mapping[str, Any], *, venue: str, year: int, name: str) -> VenuePaper | None:
    content = note.get("content")
    if not isinstance(content, Mapping):
        raise VenueParseError(f"{name}: a note has no content object")
    fields = {key: value.get("value") for key, value in content.items() if isinstance(value, Mapping)}
    label = str(fields.get("venue") or "")
    if label and _REJECTED_RE.search(label):
        return None
    group = group_from_venue_label(label, venue=venue, year=year) if label else None
    return _paper(note, fields, venue=venue, year=year, group=group, name=name)


def _paper_v1(note: Mapping[str, Any], *, venue: str, year: int, name: str) -> VenuePaper | None:
    content = note.get("content")
    if not isinstance(content, Mapping):
        raise VenueParseError(f"{name}: a note has no content object")
    label = str(content.get("venue") or "")
    if label:
        if _REJECTED_RE.search(label):
            return None
        group = group_from_venue_label(label, venue=venue, year=year)
    else:
        decision = _decision(note)
        if decision is not None and not _DECISION_ACCEPT_RE.search(decision):
            return None
        group = _group_from_decision(decision)
    return _paper(note, content, venue=venue, year=year, group=group, name=name)


def _paper(
    note: Mapping[str, Any],
    fields: Mapping[str, Any],
    *,
    venue: str,
    year: int,
    group: str | None,
    name: str,
) -> VenuePaper:
    forum = note.get("forum") or note.get("id")
    if not isinstance(forum, str) or not forum:
        raise VenueParseError(f"{name}: a note has no id")
    title = squash(_string(fields.get("title")))
    if not title:
        raise VenueParseError(f"{name}: note {forum} has no title")
    authors = fields.get("authors")
    if authors is not None and not _is_strings(authors):
        raise VenueParseError(f"{name}: note {forum} has authors that are not a list of names")
    keywords = fields.get("keywords")
    return VenuePaper(
        source="openreview",
        source_id=forum,
        venue=venue,
        year=year,
        group=group,
        title=title,
        authors=tuple(squash(author) for author in (authors or ()) if squash(author)),
        abstract=squash(_string(fields.get("abstract"))),
        pdf_url=f"{OPENREVIEW_URL}/pdf?id={forum}",  # content.pdf is a path only OpenReview resolves
        url=f"{OPENREVIEW_URL}/forum?id={forum}",
        arxiv_id=find_arxiv_id(_string(fields.get("arxiv")), _string(fields.get("html"))),
        keywords=tuple(squash(k) for k in keywords if squash(k))
        if isinstance(keywords, list) and _is_strings(keywords)
        else (),
    )


def _decision(note: Mapping[str, Any]) -> str | None:
    """The decision among a v1 note's replies (`details.directReplies`, or a crawler's `notes`)."""
    details = note.get("details")
    replies = details.get("directReplies") if isinstance(details, Mapping) else None
    if replies is None:
        replies = note.get("notes")
    for reply in replies or ():
        if not isinstance(reply, Mapping):
            continue
        content = reply.get("content")
        invitation = str(reply.get("invitation") or "") + " ".join(reply.get("invitations") or ())
        if isinstance(content, Mapping) and (invitation.endswith("Decision") or "decision" in content):
            value = content.get("decision")
            value = value.get("value") if isinstance(value, Mapping) else value
            if isinstance(value, str):
                return value
    return None


def _group_from_decision(decision: str | None) -> str | None:
    """`"Accept (Oral)"` -> "Oral"; a bare "accept" has no group."""
    if decision and (match := _PARENTHESIS_RE.search(decision)):
        return title_case_group(match.group(1))
    return None


def _crawler_submissions(block: object, name: str) -> list[Mapping[str, Any]]:
    if not isinstance(block, Mapping) or not isinstance(block.get("submissions"), list):
        raise VenueParseError(f"{name}: a crawler block has no submissions list")
    return [note for note in block["submissions"] if isinstance(note, Mapping)]


def _load(data: bytes, name: str) -> Any:
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise VenueParseError(f"{name}: not JSON ({exc}): truncated or not an OpenReview answer") from exc


def _notes(payload: Any, name: str) -> Sequence[Mapping[str, Any]]:
    notes = payload.get("notes") if isinstance(payload, Mapping) else None
    if not isinstance(notes, list) or not all(isinstance(note, Mapping) for note in notes):
        raise VenueParseError(f"{name}: no `notes` list: not an OpenReview /notes answer")
    return notes


def _count(payload: Mapping[str, Any], name: str) -> int | None:
    count = payload.get("count")
    if count is None:
        return None
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise VenueParseError(f"{name}: `count` is not a non-negative integer")
    return count


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


def _is_strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)
