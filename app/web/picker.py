"""The category picker's data: arXiv's active categories by subject group and archive, with names.

From the bundled taxonomy (app/arxiv/taxonomy.json); the page renders it once and static/js/reader.js
keeps the reader's choice in the browser.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from app.arxiv.taxonomy import Category, taxonomy

# arXiv's own order on its front page; a group not named here comes after them.
GROUP_ORDER = (
    "Physics",
    "Mathematics",
    "Computer Science",
    "Quantitative Biology",
    "Quantitative Finance",
    "Statistics",
    "Electrical Engineering and Systems Science",
    "Economics",
)
HIDDEN_GROUPS = frozenset({"Test"})  # arXiv's test archive: no reader's subject


@dataclass(frozen=True, slots=True)
class Archive:
    code: str  # cs, hep-ex
    name: str  # Computer Science
    categories: tuple[Category, ...]


@dataclass(frozen=True, slots=True)
class Group:
    name: str  # Physics
    archives: tuple[Archive, ...]


@cache
def category_groups() -> tuple[Group, ...]:
    """Active categories grouped by archive, archives by group; codes in alphabetical order."""
    known = taxonomy()
    by_archive: dict[str, list[Category]] = {}
    for category in sorted(known.categories.values(), key=lambda c: c.code.lower()):
        if category.active and known.groups.get(category.archive) not in HIDDEN_GROUPS:
            by_archive.setdefault(category.archive, []).append(category)
    by_group: dict[str, list[Archive]] = {}
    for code in sorted(by_archive):
        archive = Archive(code, known.archives.get(code, code), tuple(by_archive[code]))
        by_group.setdefault(known.groups.get(code, "Other"), []).append(archive)

    def rank(name: str) -> tuple[int, str]:
        return (GROUP_ORDER.index(name) if name in GROUP_ORDER else len(GROUP_ORDER), name)

    return tuple(Group(name, tuple(by_group[name])) for name in sorted(by_group, key=rank))
