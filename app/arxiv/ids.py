"""arXiv identifiers: new style (0704.0001, 2401.01234), old style (hep-th/9901001), versions."""

from __future__ import annotations

import re

from app.errors import FeedParseError

# yymm.nnnn until 2014-12, yymm.nnnnn since 2015-01 (arXiv's own rule).
_NEW = r"(?:0[7-9]|1[0-4])\d{2}\.\d{4}|(?:1[5-9]|[2-9]\d)\d{2}\.\d{5}"
_OLD = r"[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7}"
_ID_RE = re.compile(rf"^(?P<id>{_NEW}|{_OLD})(?:v(?P<version>[1-9]\d*))?$", re.ASCII)  # ASCII digits only
_PREFIX_RE = re.compile(
    r"^(?:(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/|oai:arxiv\.org:|arxiv:)",
    re.IGNORECASE,
)


def split_arxiv_id(raw: str) -> tuple[str, int | None]:
    """Return (id without version, version or None) for any common spelling of an arXiv id.

    Accepts bare ids, ``arXiv:`` / ``oai:arXiv.org:`` prefixes and abs/pdf/html URLs.
    Raises FeedParseError when the text is not an arXiv id.
    """
    match = _ID_RE.match(raw)  # the common case, a bare id: one regex, no clean-up (hot in ranking)
    if match is None:
        match = _ID_RE.match(_clean(raw))
    if match is None:
        raise FeedParseError(f"not an arXiv id: {raw[:80]!r}")
    version = match.group("version")
    return match.group("id"), int(version) if version else None


def _clean(raw: str) -> str:
    """A spelling of an id without its prefix, URL query / fragment, trailing slash or `.pdf`."""
    text = _PREFIX_RE.sub("", raw.strip())
    return text.split("?", 1)[0].split("#", 1)[0].rstrip("/").removesuffix(".pdf")


def is_arxiv_id(raw: str) -> bool:
    """True when ``raw`` is a bare arXiv id, with or without version."""
    return _ID_RE.match(raw.strip()) is not None


def pdf_url(arxiv_id: str, version: int | None = None) -> str:
    return f"https://arxiv.org/pdf/{arxiv_id}" + (f"v{version}" if version else "")


def abs_url(arxiv_id: str, version: int | None = None) -> str:
    return f"https://arxiv.org/abs/{arxiv_id}" + (f"v{version}" if version else "")
