"""A generated arXiv day: real papers re-issued as one rss.arxiv.org RSS 2.0 feed (2024+ format).

Shared by `ingest.py` and `pages.py`. The channel is the real one of
tests/data/rss/rss2-2024-multicat-csLG+csAI+csCL+statML.xml and every item is written the way its
real items are (title, link, description with the "arXiv:ID Announce Type:" head, guid, category,
pubDate, arxiv:announce_type, dc:rights, arxiv:journal_reference, arxiv:DOI, dc:creator). Titles,
abstracts, authors and source categories are real: the items of that feed, the 100 entries of
tests/data/api/api-2025-cs-100-entries.xml and, when present, the 2,060 entries of the shared
benchmark fixture (see tests/data/README.md). They are cycled to the size asked, each under a new
id 2611.0NNNN, with announce types new / cross / replace in the proportions 60 / 25 / 15.

    .venv/bin/python benchmarks/dayfeed.py --size 2500 > /tmp/day.xml
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.utils import format_datetime
from pathlib import Path

from app.arxiv.parse import parse_feed

ROOT = Path(__file__).resolve().parents[1]
RSS_TEMPLATE = ROOT / "tests/data/rss/rss2-2024-multicat-csLG+csAI+csCL+statML.xml"
API_SOURCE = ROOT / "tests/data/api/api-2025-cs-100-entries.xml"
SHARED_SOURCE = ROOT.parent / "shared/fixtures/arxiv/bench/api-entries-csDS-2060.xml"  # if present

LISTED = ("cs.LG", "cs.AI", "cs.CL", "stat.ML")  # the template feed's categories, in its order
DAY = dt.date(2026, 11, 10)  # a Tuesday
ANNOUNCE_MIX = (("new", 60), ("cross", 25), ("replace", 15))
_PRIMARY_WEIGHT = {"cs.LG": 40, "cs.AI": 25, "cs.CL": 20, "stat.ML": 15}
_OUTSIDE = ("cs.CV", "cs.DS", "math.OC", "stat.ME", "cs.RO", "eess.SP", "q-bio.NC")
_LICENSES = (
    "http://creativecommons.org/licenses/by/4.0/",
    "http://arxiv.org/licenses/nonexclusive-distrib/1.0/",
    "http://creativecommons.org/licenses/by-nc-sa/4.0/",
)
_CATEGORY_RE = re.compile(r"^[a-z][a-z\-]*(?:\.[A-Za-z\-]+)?$")

_ATOM = "http://www.w3.org/2005/Atom"
_ARXIV = "http://arxiv.org/schemas/atom"
_DC = "http://purl.org/dc/elements/1.1/"
for _prefix, _uri in (("arxiv", _ARXIV), ("dc", _DC), ("atom", _ATOM)):
    ET.register_namespace(_prefix, _uri)


@dataclass(frozen=True, slots=True)
class Record:
    """The real part of an item: what a paper says about itself."""

    title: str
    abstract: str
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    license: str | None = None
    journal_ref: str | None = None
    doi: str | None = None


@dataclass(frozen=True, slots=True)
class DayItem:
    """One item of the generated day: a record under a new id, type and set of categories."""

    arxiv_id: str
    version: int
    announce_type: str
    categories: tuple[str, ...]
    record: Record


def default_sources() -> list[Path]:
    """The repository's API sample, plus the shared 2,060-entry fixture when this machine has it."""
    return [API_SOURCE, *([SHARED_SOURCE] if SHARED_SOURCE.is_file() else [])]


def read_records(sources: Iterable[Path]) -> list[Record]:
    """Real records: the template feed's items, then every Atom <entry> of each source file."""
    records = [
        Record(e.title, e.abstract, e.authors, e.categories, e.license, e.journal_ref, e.doi)
        for e in parse_feed(RSS_TEMPLATE.read_bytes()).entries
    ]
    for path in sources:
        records.extend(_atom_records(path))
    return records


def _atom_records(path: Path) -> list[Record]:
    """Every <entry> of an Atom document, read by local names: the shared fixture's collector
    dropped the Atom namespace from all but its first entry."""
    root = ET.parse(path).getroot()
    records = []
    for entry in (el for el in root.iter() if _local(el.tag) == "entry"):
        children: dict[str, list[ET.Element]] = {}
        for child in entry:
            children.setdefault(_local(child.tag), []).append(child)
        record = _atom_record(children)
        if record is not None:
            records.append(record)
    return records


def _atom_record(children: dict[str, list[ET.Element]]) -> Record | None:
    def text(name: str) -> str:
        return _squash(children[name][0].text) if name in children else ""

    authors = tuple(_squash(a.findtext("{*}name")) for a in children.get("author", ()))
    if not (text("title") and text("summary") and authors):
        return None
    terms = [el.get("term") for name in ("primary_category", "category") for el in children.get(name, ())]
    return Record(
        title=text("title"),
        abstract=text("summary"),
        authors=authors,
        categories=tuple(dict.fromkeys(t for t in terms if t and _CATEGORY_RE.match(t))),
        journal_ref=text("journal_ref") or None,
        doi=text("doi") or None,
    )


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _squash(text: str | None) -> str:
    return " ".join((text or "").split())


def plan_day(
    records: Sequence[Record], *, size: int, categories: Sequence[str] = LISTED, seed: int = 2611
) -> list[DayItem]:
    """`size` items in feed order (new, cross, replace) with ids 2611.00001, 2611.00002 ..."""
    rng = random.Random(seed)
    kinds = [kind for kind, share in ANNOUNCE_MIX for _ in range(round(size * share / 100))]
    kinds = (kinds + ["new"] * size)[:size]
    items = []
    for index, kind in enumerate(kinds, start=1):
        record = records[(index - 1) % len(records)]
        version = rng.randint(2, 4) if kind == "replace" else 1
        cats = _categories(rng, kind, categories, record)
        items.append(DayItem(f"2611.{index:05d}", version, kind, cats, record))
    return items


def _categories(rng: random.Random, kind: str, listed: Sequence[str], record: Record) -> tuple[str, ...]:
    """Primary first: a listed one for new and replace, one from outside for a cross-list."""
    own = [c for c in record.categories if c not in listed]
    if kind == "cross":
        primary = own[0] if own else rng.choice(_OUTSIDE)
        picked = rng.sample(list(listed), k=min(len(listed), rng.choice((1, 1, 2))))
        return tuple(dict.fromkeys([primary, *picked, *own[1:2]]))
    weights = [_PRIMARY_WEIGHT.get(c, 1) for c in listed]
    primary = rng.choices(list(listed), weights=weights)[0]
    extra = [c for c in listed if c != primary and rng.random() < 0.3]
    return tuple(dict.fromkeys([primary, *extra, *own[:1]]))


def render_rss(items: Sequence[DayItem], *, categories: Sequence[str] = LISTED, day: dt.date = DAY) -> bytes:
    """The items as rss.arxiv.org would serve them for `categories` on `day` (UTF-8 bytes)."""
    root = ET.parse(RSS_TEMPLATE).getroot()
    channel = root.find("channel")
    assert channel is not None
    for old in channel.findall("item"):
        channel.remove(old)
    names, path = ", ".join(categories), "+".join(categories)
    published = format_datetime(dt.datetime.combine(day, dt.time(), dt.timezone(dt.timedelta(hours=-5))))
    _set(channel, "title", f"{names} updates on arXiv.org")
    _set(channel, "link", f"http://rss.arxiv.org/rss/{path}")
    _set(channel, "description", f"{names} updates on the arXiv.org e-print archive.")
    _set(channel, "lastBuildDate", format_datetime(dt.datetime.combine(day, dt.time(9, 0), dt.UTC)))
    _set(channel, "pubDate", published)
    atom_link = channel.find(f"{{{_ATOM}}}link")
    if atom_link is not None:
        atom_link.set("href", f"http://rss.arxiv.org/rss/{path}")
    for item in items:
        channel.append(_item(item, published))
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


def _set(parent: ET.Element, tag: str, text: str) -> None:
    element = parent.find(tag)
    if element is not None:
        element.text = text


def _item(item: DayItem, published: str) -> ET.Element:
    record, ident = item.record, f"{item.arxiv_id}v{item.version}"
    el = ET.Element("item")
    ET.SubElement(el, "title").text = record.title
    ET.SubElement(el, "link").text = f"https://arxiv.org/abs/{item.arxiv_id}"
    head = f"arXiv:{ident} Announce Type: {item.announce_type} \nAbstract: "
    ET.SubElement(el, "description").text = head + record.abstract
    ET.SubElement(el, "guid", isPermaLink="false").text = f"oai:arXiv.org:{ident}"
    for category in item.categories:
        ET.SubElement(el, "category").text = category
    ET.SubElement(el, "pubDate").text = published
    ET.SubElement(el, f"{{{_ARXIV}}}announce_type").text = item.announce_type
    number = int(item.arxiv_id[-5:])
    ET.SubElement(el, f"{{{_DC}}}rights").text = record.license or _LICENSES[number % len(_LICENSES)]
    if record.journal_ref:
        ET.SubElement(el, f"{{{_ARXIV}}}journal_reference").text = record.journal_ref
    if record.doi:
        ET.SubElement(el, f"{{{_ARXIV}}}DOI").text = record.doi
    ET.SubElement(el, f"{{{_DC}}}creator").text = ", ".join(record.authors)
    return el


def build_day(
    size: int,
    *,
    categories: Sequence[str] = LISTED,
    sources: Iterable[Path] | None = None,
    day: dt.date = DAY,
) -> bytes:
    """A whole day's feed of `size` items for `categories`, from the default sources unless given."""
    records = read_records(default_sources() if sources is None else sources)
    return render_rss(plan_day(records, size=size, categories=categories), categories=categories, day=day)


def main() -> None:
    parser = argparse.ArgumentParser(description="Write a generated arXiv day (RSS 2.0) to stdout.")
    parser.add_argument("--size", type=int, default=2500, help="number of items (default 2500)")
    parser.add_argument("--category", action="append", help="listed category, repeatable (default: 4)")
    args = parser.parse_args()
    sys.stdout.buffer.write(build_day(args.size, categories=tuple(args.category or LISTED)))


if __name__ == "__main__":
    main()
