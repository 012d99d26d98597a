"""A small strict BibTeX reader for machine-written files (PMLR volumes, CVF and NeurIPS entries).

Why not bibtexparser: its 1.x line forgives unbalanced braces and a file cut mid-entry (it drops the
entry and goes on), and its 2.x line is still a beta. Ingestion needs the opposite: a truncated
volume must fail as a whole. The grammar written by these generators is small — `@type{key,
name = {value} | "value" | number | @string name, ...}` with `#` concatenation — and is read here
completely, with every error reported by line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.errors import VenueParseError

_NAME_RE = re.compile(r"[A-Za-z][\w\-:.+/]*")
_KEY_RE = re.compile(r"[^\s,{}()\"#%'=]+")


@dataclass(frozen=True, slots=True)
class BibEntry:
    """One entry: its type in lower case, its key, and its fields (names in lower case, values raw TeX)."""

    type: str
    key: str
    fields: dict[str, str]


def parse_bibtex(text: str, *, name: str = "document") -> list[BibEntry]:
    """Every entry of a BibTeX text, in order; `@comment`/`@preamble` skipped, `@string` expanded."""
    return _Reader(text, name).entries()


class _Reader:
    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = name
        self.pos = 0
        self.strings: dict[str, str] = {}

    def fail(self, why: str) -> VenueParseError:
        line = self.text.count("\n", 0, self.pos) + 1
        return VenueParseError(f"{self.name}: bad BibTeX at line {line}: {why}")

    def entries(self) -> list[BibEntry]:
        found: list[BibEntry] = []
        while (at := self.text.find("@", self.pos)) != -1:
            self.pos = at + 1
            kind = self.name_token("an entry type").lower()
            self.skip_space()
            opener = self.peek()
            if opener not in "{(":
                raise self.fail(f"expected '{{' after @{kind}")
            closer = "}" if opener == "{" else ")"
            self.pos += 1
            if kind in ("comment", "preamble"):
                self.pos = self.balanced_end(opener, closer)
                continue
            if kind == "string":
                field_name, value = self.field()
                self.strings[field_name] = value
                self.expect(closer)
                continue
            found.append(self.entry(kind, closer))
        return found

    def entry(self, kind: str, closer: str) -> BibEntry:
        self.skip_space()
        match = _KEY_RE.match(self.text, self.pos)
        if match is None:
            raise self.fail(f"@{kind} without a key")
        key = match.group(0)
        self.pos = match.end()
        fields: dict[str, str] = {}
        while True:
            self.skip_space()
            char = self.peek()
            if char == closer:
                self.pos += 1
                return BibEntry(kind, key, fields)
            if char != ",":
                raise self.fail(f"expected ',' or '{closer}' in entry {key!r}")
            self.pos += 1
            self.skip_space()
            if self.peek() == closer:
                continue
            field_name, value = self.field()
            fields[field_name] = value

    def field(self) -> tuple[str, str]:
        field_name = self.name_token("a field name").lower()
        self.expect("=")
        pieces = [self.value()]
        while True:
            self.skip_space()
            if self.peek() != "#":
                return field_name, "".join(pieces)
            self.pos += 1
            pieces.append(self.value())

    def value(self) -> str:
        self.skip_space()
        char = self.peek()
        if char == "{":
            end = self.balanced_end("{", "}", start=self.pos + 1)
            value = self.text[self.pos + 1 : end - 1]
            self.pos = end
            return value
        if char == '"':
            return self.quoted()
        match = re.compile(r"\d+").match(self.text, self.pos)
        if match:
            self.pos = match.end()
            return match.group(0)
        reference = self.name_token("a value").lower()
        if reference not in self.strings:
            raise self.fail(f"undefined @string {reference!r}")
        return self.strings[reference]

    def quoted(self) -> str:
        depth = 0
        start = self.pos + 1
        for index in range(start, len(self.text)):
            char = self.text[index]
            if char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
            elif char == '"' and depth == 0 and self.text[index - 1] != "\\":
                self.pos = index + 1
                return self.text[start:index]
        raise self.fail("a quoted value never ends (truncated?)")

    def balanced_end(self, opener: str, closer: str, *, start: int | None = None) -> int:
        """The index just past the `closer` that balances an already consumed `opener`."""
        depth = 1
        index = self.pos if start is None else start
        while index < len(self.text):
            char = self.text[index]
            if char == "\\":
                index += 2
                continue
            if char == opener:
                depth += 1
            elif char == closer:
                depth -= 1
                if depth == 0:
                    return index + 1
            index += 1
        raise self.fail("unbalanced braces: the text ends inside a value (truncated?)")

    def name_token(self, what: str) -> str:
        self.skip_space()
        match = _NAME_RE.match(self.text, self.pos)
        if match is None:
            raise self.fail(f"expected {what}")
        self.pos = match.end()
        return match.group(0)

    def expect(self, char: str) -> None:
        self.skip_space()
        if self.peek() != char:
            raise self.fail(f"expected {char!r}")
        self.pos += 1

    def peek(self) -> str:
        if self.pos >= len(self.text):
            raise self.fail("the text ends inside an entry (truncated?)")
        return self.text[self.pos]

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1


def split_bibtex_names(value: str) -> list[tuple[str, str]]:
    """`"Addanki, Raghavendra and Bhandari, S."` -> [("Raghavendra", "Addanki"), ...] as (given, family).

    Splits on " and " outside braces; "Family, Given" and "Given Family" (last word is the family name)
    are both read; a braced organisation name stays whole as a family name.
    """
    names: list[tuple[str, str]] = []
    for part in _split_outside_braces(" ".join(value.split()), " and "):
        part = " ".join(part.split())
        if not part:
            continue
        pieces = _split_outside_braces(part, ",")
        if len(pieces) >= 2:
            family, given = pieces[0].strip(), " ".join(p.strip() for p in pieces[1:][::-1] if p.strip())
        else:
            words = _split_outside_braces(part, " ")
            family, given = words[-1], " ".join(words[:-1])
        names.append((given.strip(), family.strip()))
    return names


def _split_outside_braces(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    start = 0
    index = 0
    while index < len(text):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif depth == 0 and text.startswith(separator, index):
            parts.append(text[start:index])
            index += len(separator)
            start = index
            continue
        index += 1
    parts.append(text[start:])
    return parts
