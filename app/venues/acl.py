"""ACL Anthology collection XML (`data/xml/{collection}.xml`) -> venue papers. Pure: bytes in, records out.

One file holds one event's volumes (`2024.acl.xml`: long, short, demos, srw, tutorials; Findings live in
`2024.findings.xml`). Paper ids have gaps (a withdrawn paper keeps its number), so ids are read, never
counted. Titles and abstracts carry markup: `<tex-math>` becomes `$...$` for KaTeX, `<fixed-case>`, `<i>`,
`<b>` and the like become their text.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from app.errors import VenueParseError
from app.venues.text import squash
from app.venues.types import VenueDocument, VenuePaper

ANTHOLOGY_URL = "https://aclanthology.org"
# Group names of volumes whose booktitle does not say "(Volume N: ...)".
_VOLUME_GROUPS = {
    "long": "Long Papers",
    "short": "Short Papers",
    "demos": "System Demonstrations",
    "demo": "System Demonstrations",
    "srw": "Student Research Workshop",
    "tutorials": "Tutorial Abstracts",
    "tutorial": "Tutorial Abstracts",
    "industry": "Industry Track",
}
_BOOKTITLE_GROUP_RE = re.compile(r"\(Volume\s+\d+:\s*([^)]+)\)\s*$")


def parse_anthology_xml(
    data: bytes, *, venue: str | None = None, volumes: Collection[str] | None = None, name: str = "document"
) -> VenueDocument:
    """Every paper of a collection XML (or only of the full volume ids in `volumes`: "2024.acl-long").

    `venue` names the edition's venue ("ACL"); without it, the volume's `<venue>` is upper-cased
    (Findings volumes take their volume id: `2024.findings-acl` -> "ACL").
    """
    try:
        root = safe_et.fromstring(data)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise VenueParseError(f"{name}: not well-formed Anthology XML ({exc})") from exc
    collection = root.get("id") or ""
    if root.tag != "collection" or not collection:
        raise VenueParseError(f"{name}: not an ACL Anthology collection (root <{root.tag}>)")
    papers: list[VenuePaper] = []
    for volume in root.findall("volume"):
        volume_id = _volume_anthology_id(collection, volume.get("id") or "")
        if volumes is not None and volume_id not in volumes:
            continue
        papers.extend(
            _volume_papers(volume, collection=collection, volume_id=volume_id, venue=venue, name=name)
        )
    if (
        volumes is not None
        and not papers
        and not any(v in _all_volume_ids(root, collection) for v in volumes)
    ):
        raise VenueParseError(f"{name}: none of the volumes {sorted(volumes)} is in collection {collection}")
    return VenueDocument(kind="acl-xml", papers=tuple(papers))


def _all_volume_ids(root: Element, collection: str) -> set[str]:
    return {_volume_anthology_id(collection, volume.get("id") or "") for volume in root.findall("volume")}


def _volume_papers(
    volume: Element, *, collection: str, volume_id: str, venue: str | None, name: str
) -> list[VenuePaper]:
    meta = volume.find("meta")
    if meta is None:
        raise VenueParseError(f"{name}: volume {volume_id} has no <meta>")
    year_text = squash(meta.findtext("year"))
    if not year_text.isdigit():
        raise VenueParseError(f"{name}: volume {volume_id} has no year")
    booktitle = _text(meta.find("booktitle"))
    group = _group(collection, volume.get("id") or "", booktitle)
    venue_name = venue or _venue_name(collection, volume.get("id") or "", meta)
    papers = []
    for paper in volume.findall("paper"):
        number = paper.get("id") or ""
        if not number.isdigit():
            raise VenueParseError(f"{name}: a paper of {volume_id} has no numeric id")
        anthology_id = _paper_anthology_id(collection, volume_id, int(number))
        title = _text(paper.find("title"))
        if not title:
            raise VenueParseError(f"{name}: paper {anthology_id} has no title")
        authors = tuple(_person(author) for author in paper.findall("author"))
        papers.append(
            VenuePaper(
                source="acl",
                source_id=anthology_id,
                venue=venue_name,
                year=int(year_text),
                group=group,
                title=title,
                authors=tuple(author for author in authors if author),
                abstract=_text(paper.find("abstract")),
                pdf_url=f"{ANTHOLOGY_URL}/{anthology_id}.pdf",
                url=f"{ANTHOLOGY_URL}/{anthology_id}/",
                doi=squash(paper.findtext("doi")) or None,
            )
        )
    return papers


def _volume_anthology_id(collection: str, volume: str) -> str:
    """`2024.acl` + `long` -> `2024.acl-long`; old style `P18` + `1` -> `P18-1`."""
    return f"{collection}-{volume}"


def _paper_anthology_id(collection: str, volume_id: str, number: int) -> str:
    """As the Anthology builds them: `2024.acl-long.1`; old style `P18-1001`, `W18-5401`."""
    if collection[:1].isdigit():
        return f"{volume_id}.{number}"
    volume = volume_id.rsplit("-", 1)[-1]
    if collection.startswith("W"):
        return f"{collection}-{int(volume):02d}{number:02d}"
    return f"{collection}-{int(volume)}{number:03d}"


def _group(collection: str, volume: str, booktitle: str) -> str | None:
    if ".findings" in collection or collection.startswith("findings"):
        return "Findings"
    if match := _BOOKTITLE_GROUP_RE.search(booktitle):
        return squash(match.group(1))
    return _VOLUME_GROUPS.get(volume)


def _venue_name(collection: str, volume: str, meta: Element) -> str:
    if ".findings" in collection:
        return volume.upper()
    return (squash(meta.findtext("venue")) or collection.split(".")[-1]).upper()


def _person(element: Element) -> str:
    return squash(f"{_text(element.find('first'))} {_text(element.find('last'))}")


def _text(element: Element | None) -> str:
    """The text of a markup element: `<tex-math>` as `$...$`, every other tag as its text."""
    if element is None:
        return ""
    return squash("".join(_flatten(element)))


def _flatten(element: Element) -> list[str]:
    parts = [element.text or ""]
    for child in element:
        if child.tag == "tex-math":
            parts.append(f"${squash(''.join(child.itertext()))}$")
        else:
            parts.extend(_flatten(child))
        parts.append(child.tail or "")
    return parts
