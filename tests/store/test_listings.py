"""Category expressions as papers.cool reads them."""

from __future__ import annotations

import pytest

from app.errors import InvalidQueryError
from app.store.listings import CategoryQuery, parse_category_expression


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("cs.AI", CategoryQuery(("cs.AI",))),
        ("cs", CategoryQuery(("cs",))),
        ("cs.AI,cs.CL", CategoryQuery(("cs.AI", "cs.CL"))),
        ("cs.AI+cs.LG-cs.CY", CategoryQuery(("cs.AI", "cs.LG"), ("cs.CY",))),
        ("hep-ex", CategoryQuery(("hep-ex",))),
        ("cond-mat.mes-hall-cs.AI", CategoryQuery(("cond-mat.mes-hall",), ("cs.AI",))),
        ("cs.AI-hep-ex", CategoryQuery(("cs.AI",), ("hep-ex",))),
        ("math-ph", CategoryQuery(("math-ph",))),
        ("cs.AI,cs.AI", CategoryQuery(("cs.AI",))),
    ],
)
def test_parse_category_expression_reads_papers_cool_forms(spec: str, expected: CategoryQuery) -> None:
    assert parse_category_expression(spec) == expected


@pytest.mark.parametrize("spec", ["", ",", "-cs.AI", "DROP TABLE papers", "cs.AI;--", "x" * 300, "cs.<b>"])
def test_parse_category_expression_rejects_nonsense(spec: str) -> None:
    with pytest.raises(InvalidQueryError):
        parse_category_expression(spec)


def test_category_query_excludes_archive_members() -> None:
    query = CategoryQuery(("cs",), ("math",))
    assert query.excludes(["cs.LG", "math.OC"])
    assert not query.excludes(["cs.LG", "stat.ML"])


def test_parse_category_expression_refuses_unknown_and_too_many() -> None:
    with pytest.raises(InvalidQueryError, match=r"no category 'cs\.ZZ'"):
        parse_category_expression("cs.LG,cs.ZZ")
    many = ",".join(["cs.LG"] * 101)
    with pytest.raises(InvalidQueryError, match="at most 100 categories"):
        parse_category_expression(many)
    assert parse_category_expression(",".join(["cs.LG"] * 100)) == CategoryQuery(("cs.LG",))
    assert parse_category_expression("math.MP,test") == CategoryQuery(("math.MP", "test"))
