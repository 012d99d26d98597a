"""split_arxiv_id and friends: every common spelling of an arXiv id."""

from __future__ import annotations

import pytest

from app.arxiv.ids import abs_url, is_arxiv_id, pdf_url, split_arxiv_id
from app.errors import FeedParseError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2401.01234v2", ("2401.01234", 2)),
        ("2401.01234", ("2401.01234", None)),
        ("2401.01234v12", ("2401.01234", 12)),
        ("1406.2661", ("1406.2661", None)),
        ("0704.0001", ("0704.0001", None)),
        ("hep-th/9901001", ("hep-th/9901001", None)),
        ("hep-th/9901001v3", ("hep-th/9901001", 3)),
        ("q-bio/0401001", ("q-bio/0401001", None)),
        ("math.GT/0309136v1", ("math.GT/0309136", 1)),
        ("arXiv:2401.01234v2", ("2401.01234", 2)),
        ("ARXIV:2401.01234", ("2401.01234", None)),
        ("oai:arXiv.org:2609.26811v1", ("2609.26811", 1)),
        ("oai:arXiv.org:hep-th/9901001", ("hep-th/9901001", None)),
        ("https://arxiv.org/abs/2401.01234v2", ("2401.01234", 2)),
        ("http://arxiv.org/abs/hep-th/9901001", ("hep-th/9901001", None)),
        ("http://arxiv.org/abs/astro-ph/0601001v1", ("astro-ph/0601001", 1)),
        ("https://arxiv.org/pdf/2401.01234v2.pdf", ("2401.01234", 2)),
        ("https://arxiv.org/pdf/2401.01234", ("2401.01234", None)),
        ("https://arxiv.org/html/2401.01234v1", ("2401.01234", 1)),
        ("https://export.arxiv.org/abs/2401.01234", ("2401.01234", None)),
        ("https://www.arxiv.org/abs/2401.01234", ("2401.01234", None)),
        ("  2401.01234 \n", ("2401.01234", None)),
    ],
)
def test_split_arxiv_id_reads_spelling(raw: str, expected: tuple[str, int | None]) -> None:
    assert split_arxiv_id(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "abc",
        "Error",
        "24011.01234",
        "2401.012345",
        "2401.01234v",
        "2401.01234 extra",
        "hep-th/990100",
        "HEP-TH/9901001",
        "cond-mat.str-el/0101001",
        "https://evil.example/abs/2401.01234",
        "https://arxiv.org/api/errors#incorrect_id_format_for_abc",
        "x" * 10_000,
        "2601.0000\uff11",  # a fullwidth 1: each such spelling of an id was sent to arXiv
        "2601.0000\u0661",  # an Arabic-Indic 1
        "2401.01234v\u0662",
        "hep-th/990100\u0967",
    ],
)
def test_split_arxiv_id_rejects_non_ids(raw: str) -> None:
    with pytest.raises(FeedParseError, match="not an arXiv id") as caught:
        split_arxiv_id(raw)
    assert len(str(caught.value)) < 200


def test_is_arxiv_id_accepts_bare_ids_only() -> None:
    assert is_arxiv_id("2401.01234v2")
    assert is_arxiv_id("hep-th/9901001")
    assert not is_arxiv_id("arXiv:2401.01234")
    assert not is_arxiv_id("abc")


def test_abs_and_pdf_urls() -> None:
    assert abs_url("2401.01234") == "https://arxiv.org/abs/2401.01234"
    assert abs_url("hep-th/9901001", 3) == "https://arxiv.org/abs/hep-th/9901001v3"
    assert pdf_url("2401.01234", 2) == "https://arxiv.org/pdf/2401.01234v2"
