"""The Kaggle / Cornell ``arxiv-metadata-oai-snapshot.json`` bulk dump: one JSON object a line."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from app.arxiv import fields as f
from app.arxiv.ids import split_arxiv_id
from app.arxiv.types import Feed, FeedEntry
from app.errors import FeedParseError

MAX_LINE_BYTES = 50 * 1024 * 1024

log = logging.getLogger(__name__)


class _NoArxivId(FeedParseError):
    """A record whose id is not an arXiv id: skipped inside a file."""


def parse_snapshot_line(line: bytes | str) -> FeedEntry:
    """One line of the Kaggle arXiv metadata snapshot (a JSON object) as a `FeedEntry`.

    Authors come from ``authors_parsed`` ([last, first, suffix, ...]) when present, else from the
    ``authors`` string with parenthesised affiliations dropped; the version is the last of
    ``versions``; published_at is the first version's date, updated_at is ``update_date``.
    Raises FeedParseError (never anything else) when the line is not such an object.
    """
    try:
        return _snapshot_entry(_json_object(line, number=1))
    except FeedParseError:
        raise
    except Exception as exc:  # same contract as parse_feed
        raise FeedParseError(f"unreadable snapshot line ({type(exc).__name__})") from exc


def parse_snapshot(body: bytes) -> Feed:
    """All records of a snapshot file (``Feed.kind == "snapshot"``).

    A line that is not JSON, or JSON that is not a snapshot record, makes the whole document an
    error (a truncated file is not a partial success); a record with an unreadable id is skipped and
    logged; a file in which every record is unreadable is an error.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FeedParseError(f"JSON lines that are not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    entries: list[FeedEntry] = []
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    for number, line in lines:
        try:
            entries.append(_snapshot_entry(_json_object(line, number=number)))
        except _NoArxivId as exc:
            log.warning("skipped a snapshot line: %s", exc)
    if not entries:
        raise FeedParseError(f"none of the {len(lines)} snapshot lines carries an arXiv id")
    return Feed(kind="snapshot", title="arXiv metadata snapshot", entries=tuple(entries))


def _json_object(line: bytes | str, *, number: int) -> dict[str, Any]:
    if len(line) > MAX_LINE_BYTES:
        raise FeedParseError(f"snapshot line {number} too large: {len(line):,} bytes")
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise FeedParseError(f"not valid JSON on line {number}: {exc.msg} (column {exc.colno})") from exc
    except UnicodeDecodeError as exc:
        raise FeedParseError(f"snapshot line {number} is not UTF-8") from exc
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or "title" not in obj:
        raise FeedParseError(f"JSON on line {number} is not an arXiv snapshot record (no 'id' and 'title')")
    return obj


def _snapshot_entry(obj: dict[str, Any]) -> FeedEntry:
    try:
        arxiv_id, version = split_arxiv_id(obj["id"])
    except FeedParseError as exc:
        raise _NoArxivId(str(exc)) from exc
    versions = [v for v in obj.get("versions") or () if isinstance(v, dict)]
    if versions and version is None:
        version = _version_number(versions[-1].get("version"))
    categories = f.split_categories(_str(obj, "categories"))
    first_created = _str(versions[0], "created") if versions else None
    return FeedEntry(
        arxiv_id=arxiv_id,
        version=version,
        title=f.clean_title(_str(obj, "title")),
        abstract=f.clean_text(_str(obj, "abstract")),
        authors=_snapshot_authors(obj),
        primary_category=categories[0] if categories else None,
        categories=categories,
        comments=f.clean_optional(_str(obj, "comments")),
        journal_ref=f.clean_optional(_str(obj, "journal-ref")),
        doi=f.clean_optional(_str(obj, "doi")),
        license=f.clean_optional(_str(obj, "license")),
        published_at=f.to_utc(f.parse_rfc822(first_created)),
        updated_at=f.parse_day(_str(obj, "update_date")),
    )


def _snapshot_authors(obj: dict[str, Any]) -> tuple[str, ...]:
    parsed = obj.get("authors_parsed")
    if isinstance(parsed, list) and parsed:
        names = []
        for row in parsed:
            if isinstance(row, list) and row and all(isinstance(p, str) for p in row):
                last, first, suffix = [*row[:3], "", ""][:3]
                names.append(f.clean_title(f"{first} {last} {suffix}"))
        if names:
            return tuple(n for n in names if n)
    return f.split_authors(_str(obj, "authors"))


def _str(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) else None


def _version_number(raw: object) -> int | None:
    if isinstance(raw, str) and re.fullmatch(r"v?\d{1,6}", raw.strip()):
        return int(raw.strip().lstrip("v"))
    return None
