"""TeX in venue metadata becomes plain text outside math; math stays for KaTeX."""

from __future__ import annotations

import pytest

from app.venues.bibtex import parse_bibtex, split_bibtex_names
from app.venues.text import detex, find_arxiv_id


@pytest.mark.parametrize(
    ("tex", "plain"),
    [
        (r"Instruct{AV}: tuning", "InstructAV: tuning"),
        (r"a \emph{variability} of $\mathbf{a}$", r"a variability of $\mathbf{a}$"),
        (r"H\o{}andgsgaard and M\"{u}ller", "Høandgsgaard and Müller"),
        (r"i.i.d.\ samples, $<1\%$ of 5\%", r"i.i.d. samples, $<1\%$ of 5%"),
        ("pages 1--21 \u2014  ok", "pages 1–21 — ok"),
        (r"\href{https://x.org}{code} at \url{https://y.org}", "code at https://y.org"),
    ],
)
def test_detex(tex: str, plain: str) -> None:
    assert detex(tex) == plain


def test_find_arxiv_id() -> None:
    assert find_arxiv_id("", "https://arxiv.org/abs/2401.01234v2") == "2401.01234"
    assert find_arxiv_id("10.1234.56789") is None


def test_bibtex_strings_concatenation_and_names() -> None:
    entries = parse_bibtex(
        '@string{ml = "Machine Learning"}\n@article{k1, title = ml # " " # {Today}, year = 2024,}'
    )
    assert entries[0].fields == {"title": "Machine Learning Today", "year": "2024"}
    assert split_bibtex_names("Addanki, Raghavendra and {The ML Group} and Ada  Lovelace") == [
        ("Raghavendra", "Addanki"),
        ("", "{The ML Group}"),
        ("Ada", "Lovelace"),
    ]
