"""Text from venue sources made plain: TeX text commands undone, math kept as `$...$` for KaTeX.

Conference metadata carries LaTeX (PMLR abstracts and BibTeX names, `<tex-math>` in the ACL Anthology,
`{AV}` case protection in BibTeX titles). The site renders math with KaTeX in safe mode, so math stays
between dollars, untouched; everything outside math becomes the text a reader should see.
"""

from __future__ import annotations

import re

from app.arxiv.tex import decode_tex_accents, map_outside_math
from app.errors import VenueParseError

# Text-style commands whose argument is the text to show: \emph{x} -> x.
_TEXT_COMMANDS = "emph|textit|textbf|texttt|textsc|textsf|textrm|textup|textsl|underline|mbox|text|uline"
_STYLED_RE = re.compile(rf"\\(?:{_TEXT_COMMANDS})\s*\{{([^{{}}]*)\}}")
_HREF_RE = re.compile(r"\\href\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_URL_RE = re.compile(r"\\url\s*\{([^{}]*)\}")
# Font switches inside a group: {\em x} -> x, {\bf x} -> x.
_SWITCH_RE = re.compile(r"\{\\(?:em|it|bf|tt|sc|sf|rm|sl|itshape|bfseries)\s+([^{}]*)\}")
_SYMBOLS = {
    "\\ ": " ",  # a control space, as in "i.i.d.\\ from"
    r"\%": "%",
    r"\&": "&",
    r"\#": "#",
    r"\_": "_",
    r"\$": "$",
    r"\ldots": "…",
    r"\dots": "…",
    r"\textendash": "–",
    r"\textemdash": "—",
    "---": "—",
    "--": "–",
    "``": "“",
    "''": "”",
}
_SYMBOL_RE = re.compile("|".join(re.escape(key) for key in sorted(_SYMBOLS, key=len, reverse=True)))
_ARXIV_RE = re.compile(r"(?<![\d.])(\d{4}\.\d{4,5})(?:v\d+)?(?![\d])")
_SPACE_RE = re.compile(r"\s+")


def squash(text: str | None) -> str:
    """Runs of whitespace (newlines, tabs, double spaces) to one space, ends stripped."""
    return _SPACE_RE.sub(" ", text or "").strip()


def detex(text: str | None) -> str:
    """LaTeX text markup to plain text outside math; math spans kept verbatim for KaTeX."""
    text = squash(text)
    if not any(mark in text for mark in ("\\", "{", "-", "`", "'")):
        return text
    return squash(map_outside_math(text, _detex_plain))


def _detex_plain(text: str) -> str:
    text = decode_tex_accents(text)
    text = _HREF_RE.sub(r"\2", text)
    text = _URL_RE.sub(r"\1", text)
    for _ in range(3):  # nested styles: \emph{\textbf{x}}
        text, count = _STYLED_RE.subn(r"\1", text)
        text, switches = _SWITCH_RE.subn(r"\1", text)
        if not count and not switches:
            break
    text = _SYMBOL_RE.sub(lambda match: _SYMBOLS[match.group(0)], text)
    text = text.replace("~", " ")
    # What is left of braces outside math only protects capitals in BibTeX ("Instruct{AV}").
    return text.replace("{", "").replace("}", "")


def find_arxiv_id(*texts: str | None) -> str | None:
    """The first new-style arXiv id (without version) in any of the texts, e.g. an `arxiv` link."""
    for text in texts:
        if text and (match := _ARXIV_RE.search(text)):
            return match.group(1)
    return None


def split_names(text: str | None, separator: str) -> tuple[str, ...]:
    """`"A;  B; C"` -> ("A", "B", "C"): names split and squashed, empty ones dropped."""
    return tuple(name for name in (squash(part) for part in (text or "").split(separator)) if name)


def title_case_group(label: str) -> str | None:
    """A group label as papers.cool shows it: "poster" -> "Poster", "" -> None."""
    label = squash(label)
    if not label:
        return None
    return label[0].upper() + label[1:]


def decode_html(data: bytes, name: str) -> str:
    """A fetched HTML page as text (CVF and NeurIPS serve UTF-8); any other bytes are a VenueParseError."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VenueParseError(f"{name}: not UTF-8 HTML ({exc.reason} at byte {exc.start})") from exc
