"""arXiv's category taxonomy: every archive and category with its name (bundled, offline).

`taxonomy.json` is arXiv's published list (arxiv-base's `arxiv/taxonomy/definitions.py`, converted
to data); it lets the site name categories, offer a picker, and refuse names arXiv does not have.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files


@dataclass(frozen=True, slots=True)
class Category:
    code: str  # cs.LG, hep-ex
    name: str  # Machine Learning
    archive: str  # cs
    active: bool  # retired ones (cmp-lg, ...) still name old papers


@dataclass(frozen=True, slots=True)
class Taxonomy:
    categories: dict[str, Category]
    archives: dict[str, str]  # code -> name
    groups: dict[str, str]  # archive code -> group name (Computer Science, Physics ...)
    aliases: dict[str, str]  # math.MP -> math-ph: one subject with two names

    def is_category(self, code: str) -> bool:
        return code in self.categories or code in self.aliases

    def is_known(self, code: str) -> bool:
        """A category, an alias or a whole archive (`cs`): anything a listing URL may name."""
        return self.is_category(code) or code in self.archives

    def canonical(self, code: str) -> str:
        """The one name of a subject with two (math.IT -> cs.IT); any other code as it is."""
        return self.aliases.get(code, code)

    def name_of(self, code: str) -> str | None:
        code = self.aliases.get(code, code)
        category = self.categories.get(code)
        return category.name if category else self.archives.get(code)


@cache
def taxonomy() -> Taxonomy:
    raw = json.loads(files("app.arxiv").joinpath("taxonomy.json").read_text(encoding="utf-8"))
    groups = raw["groups"]
    return Taxonomy(
        categories={
            code: Category(code, c["name"], c["archive"], c["active"])
            for code, c in raw["categories"].items()
        },
        archives={code: a["name"] for code, a in raw["archives"].items()},
        groups={code: groups.get(a["group"], "Other") for code, a in raw["archives"].items()},
        aliases=dict(raw["aliases"]),
    )
