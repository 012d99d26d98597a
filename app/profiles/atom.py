"""A profile's digest as an Atom feed (RFC 4287), for feed readers at the profile's secret URL."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from app.profiles.digest import Digest
from app.xmlchars import xml_safe

ATOM = "http://www.w3.org/2005/Atom"


def digest_feed(digest: Digest | None, *, feed_id: str, site: str, now: dt.datetime | None = None) -> bytes:
    """The digest's papers as entries (title, link, one-line summary and why it was picked).

    `feed_id` must not contain the token: a feed's id is often shown and shared by readers.
    """
    now = now or dt.datetime.now(dt.UTC)
    updated = (
        dt.datetime.combine(digest.listing_day, dt.time(), dt.UTC).isoformat() if digest else now.isoformat()
    )
    feed = ET.Element("feed", xmlns=ATOM)
    _text(feed, "id", feed_id)
    title = f"Cool Papers: for you, {digest.listing_day}" if digest else "Cool Papers: for you"
    _text(feed, "title", title)
    _text(feed, "updated", updated)
    ET.SubElement(feed, "link", href=site, rel="alternate")
    author = ET.SubElement(feed, "author")
    _text(author, "name", "Cool Papers")
    for paper in digest.papers if digest else []:
        entry = ET.SubElement(feed, "entry")
        _text(entry, "id", paper.abs_url)
        _text(entry, "title", paper.title)
        _text(entry, "updated", updated)
        ET.SubElement(entry, "link", href=paper.url, rel="alternate")
        ET.SubElement(entry, "link", href=paper.abs_url, rel="related")
        for name in paper.authors[:20]:
            _text(ET.SubElement(entry, "author"), "name", name)
        lines = [line for line in (paper.summary, paper.reason) if line]
        if lines:
            _text(entry, "summary", "\n".join(lines))
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))


def _text(parent: ET.Element, tag: str, value: str) -> None:
    ET.SubElement(parent, tag).text = xml_safe(value)  # ElementTree writes control characters as they are
