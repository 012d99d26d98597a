"""PMLR volumes -> venue papers: a volume's BibTeX or its Jekyll posts. Pure: bytes in, records out.

Each volume `vNNN` is a Jekyll site generated from one BibTeX file. The posts (`_posts/{date}-{id}.md`,
YAML front matter) carry the final paper ids; the source BibTeX does not — PMLR's generator
(mlresearch/papersite `lib/mlresearch.rb`, `extractpapers`) names each paper after its first author's
family name, the two-digit year of publication and a letter, in file order (`addanki24a`, `bressan24b`),
and that rule is applied here so both inputs give the same ids. A bibliography written by the site
itself (`@InProceedings{pmlr-v247-addanki24a, ...}` with a `url`) gives the id directly.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

import yaml

from app.errors import VenueParseError
from app.venues.bibtex import BibEntry, parse_bibtex, split_bibtex_names
from app.venues.text import detex, find_arxiv_id, squash
from app.venues.types import VenueDocument, VenuePaper

PMLR_URL = "https://proceedings.mlr.press"
_VOLUME_RE = re.compile(r"^v?(\d+)$")
_SITE_KEY_RE = re.compile(r"^pmlr-(v\d+)-([a-z0-9\-]+)$")
_SITE_URL_RE = re.compile(r"proceedings\.mlr\.press/(v\d+)/([A-Za-z0-9\-]+)\.html")
_FRONT_MATTER_RE = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.DOTALL)


def parse_pmlr_bibtex(data: bytes, *, venue: str, name: str = "document") -> VenueDocument:
    """A volume's BibTeX: the `@Proceedings` entry (volume, year, sections) and its `@InProceedings`."""
    entries = parse_bibtex(_decode(data, name), name=name)
    proceedings = next((entry for entry in entries if entry.type == "proceedings"), None)
    papers_in = [entry for entry in entries if entry.type == "inproceedings"]
    if not papers_in:
        raise VenueParseError(f"{name}: no @InProceedings entry: not a PMLR volume BibTeX")
    volume = _volume(proceedings.fields.get("volume") if proceedings else None, papers_in)
    year = _year(proceedings, papers_in, name)
    taken: set[str] = set()
    papers = []
    for entry in papers_in:
        pid = _entry_id(entry, year, taken, name)
        taken.add(pid)
        papers.append(_paper_from_bibtex(entry, pid=pid, volume=volume, venue=venue, year=year, name=name))
    return VenueDocument(kind="pmlr-bibtex", papers=tuple(papers))


def parse_pmlr_posts(posts: Iterable[tuple[str, bytes]], *, venue: str) -> VenueDocument:
    """Jekyll posts of a volume, given as (file name, bytes) pairs; each must hold YAML front matter."""
    papers = []
    for file_name, data in posts:
        front = _front_matter(data, file_name)
        papers.append(_paper_from_post(front, venue=venue, name=file_name))
    if not papers:
        raise VenueParseError("no PMLR post was given")
    return VenueDocument(kind="pmlr-posts", papers=tuple(papers))


def _paper_from_post(front: Mapping[str, object], *, venue: str, name: str) -> VenuePaper:
    pid = _required(front, "id", name)
    volume = f"v{_required(front, 'volume', name)}"
    title = detex(_required(front, "title", name))
    issued = front.get("issued")
    parts = issued.get("date-parts") if isinstance(issued, Mapping) else None
    year = parts[0] if isinstance(parts, list) and parts and isinstance(parts[0], int) else None
    if year is None:
        raise VenueParseError(f"{name}: no issued date-parts year")
    authors = []
    for person in _list(front.get("author")):
        if not isinstance(person, Mapping):
            raise VenueParseError(f"{name}: an author is not a given/family mapping")
        authors.append(squash(f"{person.get('given') or ''} {person.get('family') or ''}"))
    pdf = front.get("pdf")
    return VenuePaper(
        source="pmlr",
        source_id=f"{pid}@{volume}",
        venue=venue,
        year=year,
        group=squash(str(front.get("section") or "")) or None,
        title=title,
        authors=tuple(a for a in authors if a),
        abstract=detex(str(front.get("abstract") or "")),
        pdf_url=str(pdf) if pdf else _pdf_url(volume, pid),
        url=f"{PMLR_URL}/{volume}/{pid}.html",
        arxiv_id=find_arxiv_id(*(str(extra) for extra in _list(front.get("extras")))),
    )


def _paper_from_bibtex(
    entry: BibEntry, *, pid: str, volume: str, venue: str, year: int, name: str
) -> VenuePaper:
    fields = entry.fields
    title = detex(fields.get("title"))
    if not title:
        raise VenueParseError(f"{name}: entry {entry.key!r} has no title")
    authors = tuple(squash(f"{detex(g)} {detex(f)}") for g, f in split_bibtex_names(fields.get("author", "")))
    return VenuePaper(
        source="pmlr",
        source_id=f"{pid}@{volume}",
        venue=venue,
        year=year,
        group=squash(fields.get("section")) or None,
        title=title,
        authors=authors,
        abstract=detex(fields.get("abstract")),
        pdf_url=fields.get("pdf") or _pdf_url(volume, pid),
        url=f"{PMLR_URL}/{volume}/{pid}.html",
        arxiv_id=find_arxiv_id(fields.get("arxiv"), fields.get("eprint")),
        doi=squash(fields.get("doi")) or None,
    )


def _entry_id(entry: BibEntry, year: int, taken: set[str], name: str) -> str:
    """The site's id: from a site-written key or url, else PMLR's first-author rule."""
    if match := _SITE_KEY_RE.match(entry.key):
        return match.group(2)
    if match := _SITE_URL_RE.search(entry.fields.get("url", "")):
        return match.group(2)
    names = split_bibtex_names(entry.fields.get("author", ""))
    if not names or not names[0][1]:
        raise VenueParseError(f"{name}: entry {entry.key!r} has no first author to name it by")
    stem = _parameterize(detex(names[0][1]).lower() + f"{year % 100:02d}")
    count = 0
    while (candidate := stem + _letters(count)) in taken:
        count += 1
    return candidate


def _parameterize(text: str) -> str:
    """ActiveSupport's `parameterize`: ASCII-transliterated, other runs to "-", trimmed."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9\-_]+", "-", ascii_text.lower()).strip("-")


def _letters(count: int) -> str:
    """0 -> a, 25 -> z, 26 -> aa (mlresearch.rb `disambiguate_chars`)."""
    div, mod = divmod(count, 26)
    return (_letters(div - 1) if div else "") + chr(97 + mod)


def _volume(value: str | None, entries: list[BibEntry]) -> str:
    for candidate in [value, *(e.fields.get("volume") for e in entries)]:
        if candidate and (match := _VOLUME_RE.match(candidate.strip())):
            return f"v{match.group(1)}"
    for entry in entries:
        if match := _SITE_KEY_RE.match(entry.key):
            return match.group(1)
    raise VenueParseError("PMLR BibTeX names no volume (no @Proceedings volume, no pmlr-vNNN keys)")


def _year(proceedings: BibEntry | None, entries: list[BibEntry], name: str) -> int:
    """The year of publication (it names the papers), from `published`, else `year`."""
    sources = [proceedings.fields.get("published"), proceedings.fields.get("year")] if proceedings else []
    sources += [entry.fields.get("year") for entry in entries[:1]]
    for value in sources:
        if value and (match := re.match(r"\s*(\d{4})", value)):
            return int(match.group(1))
    raise VenueParseError(f"{name}: PMLR BibTeX gives no year")


def _front_matter(data: bytes, name: str) -> Mapping[str, object]:
    match = _FRONT_MATTER_RE.match(_decode(data, name))
    if match is None:
        raise VenueParseError(f"{name}: no complete YAML front matter (--- ... ---): truncated or not a post")
    try:
        front = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise VenueParseError(f"{name}: front matter is not valid YAML ({squash(str(exc))[:200]})") from exc
    if not isinstance(front, Mapping):
        raise VenueParseError(f"{name}: front matter is not a mapping")
    return front


def _required(front: Mapping[str, object], key: str, name: str) -> str:
    value = front.get(key)
    if value is None or not str(value).strip():
        raise VenueParseError(f"{name}: front matter has no {key!r}")
    return str(value).strip()


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _pdf_url(volume: str, pid: str) -> str:
    return f"{PMLR_URL}/{volume}/{pid}/{pid}.pdf"


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise VenueParseError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
