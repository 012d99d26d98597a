"""Characters XML 1.0 allows: escaping leaves control characters (a query's %01, an LLM's NUL), and
a feed holding one is not well-formed, so every feed the app writes drops them first."""

from __future__ import annotations

import re

XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """`text` without the characters XML 1.0 forbids."""
    return XML_INVALID.sub("", text)
