"""TeX accents in arXiv metadata: ``Bal\\'azs`` -> ``Balázs``, math and unknown commands left alone."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

# Accent command -> Unicode combining character.
_COMBINING = {
    "'": "\u0301",
    "`": "\u0300",
    "^": "\u0302",
    '"': "\u0308",
    "~": "\u0303",
    "=": "\u0304",
    ".": "\u0307",
    "v": "\u030c",
    "c": "\u0327",
    "u": "\u0306",
    "H": "\u030b",
    "k": "\u0328",
    "r": "\u030a",
    "d": "\u0323",
}
# Letters TeX writes as a command of their own.
_LETTERS = {
    "ss": "ß",
    "aa": "å",
    "AA": "Å",
    "ae": "æ",
    "AE": "Æ",
    "oe": "œ",
    "OE": "Œ",
    "o": "ø",
    "O": "Ø",
    "l": "ł",
    "L": "Ł",
    "i": "ı",
    "j": "ȷ",
}
_BASE = r"(?:\\[ij](?![A-Za-z])|[A-Za-z])"
# {\"o}, \"{o}, \"o, \'\i, \'{\i}; symbol accents may touch their letter.
_SYMBOL_ACCENT = rf"""\\(?P<sym>['`^"~=.])\s*(?:\{{\s*(?P<sb>{_BASE})\s*\}}|(?P<sl>{_BASE}))"""
# \v{c}, \c{c}, \v c; letter accents need a brace or a space before their letter.
_LETTER_ACCENT = rf"\\(?P<let>[vcuHkrd])(?:\s*\{{\s*(?P<lb>{_BASE})\s*\}}|\s+(?P<ll>{_BASE}))"
_ACCENT_RE = re.compile(rf"(?P<open>\{{)?(?<!\\)(?:{_SYMBOL_ACCENT}|{_LETTER_ACCENT})(?(open)\}})")
_LETTER_RE = re.compile(
    r"(?P<open>\{)?(?<!\\)\\(?P<name>ss|aa|AA|ae|AE|oe|OE|o|O|l|L|i|j)(?![A-Za-z])(?(open)\}|(?:\{\}|[ \t])?)"
)
# $$...$$ or $...$, not escaped with a backslash.
MATH_SPAN_RE = re.compile(r"(?<!\\)\$\$.+?(?<!\\)\$\$|(?<!\\)\$.+?(?<!\\)\$", re.DOTALL)


def map_outside_math(text: str, plain: Callable[[str], str]) -> str:
    """`plain` applied to the text between math spans; the spans (`MATH_SPAN_RE`) kept exactly."""
    parts: list[str] = []
    start = 0
    for math in MATH_SPAN_RE.finditer(text):
        parts.append(plain(text[start : math.start()]))
        parts.append(math.group(0))
        start = math.end()
    parts.append(plain(text[start:]))
    return "".join(parts)


def decode_tex_accents(text: str) -> str:
    """Replace TeX accent and special-letter commands by Unicode, outside math.

    Handles ``\\'a``, ``\\'{a}``, ``{\\'a}``, ``\\"o``, ``\\v{c}``, ``\\c{c}``, ``\\~n``, ``\\'\\i``,
    ``\\ss``, ``\\o``, ``\\aa`` and the like. Text between ``$...$`` or ``$$...$$`` and any command
    not listed here are kept exactly as they are. The result is NFC-normalised only where an accent
    was applied.
    """
    if "\\" not in text:
        return text
    return map_outside_math(text, _decode_plain)


def _decode_plain(text: str) -> str:
    if "\\" not in text:
        return text
    text = _ACCENT_RE.sub(_apply_accent, text)
    return _LETTER_RE.sub(lambda m: _LETTERS[m.group("name")], text)


def _apply_accent(match: re.Match[str]) -> str:
    accent = match.group("sym") or match.group("let")
    base = match.group("sb") or match.group("sl") or match.group("lb") or match.group("ll")
    letter = base[-1] if base.startswith("\\") else base  # \i and \j take the accent as i and j
    return unicodedata.normalize("NFC", letter + _COMBINING[accent])
