"""Field helpers: whitespace, HTML, author lists, categories, dates."""

from __future__ import annotations

import datetime as dt

import pytest

from app.arxiv import fields

UTC = dt.UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A. One, B. Two, C. Three", ("A. One", "B. Two", "C. Three")),
        ("Ileana Streinu and Louis Theran", ("Ileana Streinu", "Louis Theran")),
        ("A. One, B. Two, and C. Three", ("A. One", "B. Two", "C. Three")),
        ("John Smith, Jr., Jane Doe", ("John Smith Jr.", "Jane Doe")),
        ("Neal J. Evans II, Ann Lee", ("Neal J. Evans II", "Ann Lee")),
        ("Alexander Anand, Sandra Andersen", ("Alexander Anand", "Sandra Andersen")),
        ("V. M. Biryukov (Serpukhov, IHEP)", ("V. M. Biryukov",)),
        (
            "A. S. Mishchenko (1 and 2) and N. Nagaosa (1 and 3) ((1) CREST, Japan\n  Science, (2) RRC)",
            ("A. S. Mishchenko", "N. Nagaosa"),
        ),
        ("B. Lanzoni (1,2), E. Dalessandro (1) (1\n  Dip. Astro., Bologna", ("B. Lanzoni", "E. Dalessandro")),
        (r"C. Bal\'azs, E. L. Berger", ("C. Balázs", "E. L. Berger")),
        ("ATLAS Collaboration", ("ATLAS Collaboration",)),
        ("", ()),
        (None, ()),
    ],
)
def test_split_authors_splits_names(text: str | None, expected: tuple[str, ...]) -> None:
    assert fields.split_authors(text) == expected


def test_clean_text_collapses_whitespace() -> None:
    assert fields.clean_text("  a\n  b\t\tc \r\n") == "a b c"
    assert fields.clean_text(None) == ""
    assert fields.clean_optional("  \n ") is None


def test_strip_html_keeps_text_only() -> None:
    assert fields.strip_html("<p>x &lt; y &amp; <b>z</b></p>\n") == "x < y & z"
    assert fields.strip_html("no tags,\n just  text") == "no tags, just text"
    assert fields.strip_html("&lt;script&gt;alert(1)&lt;/script&gt;") == "<script>alert(1)</script>"
    assert fields.strip_html(None) == ""


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("cs.LG, cs.AI, cs.CL, stat.ML updates on arXiv.org", ("cs.LG", "cs.AI", "cs.CL", "stat.ML")),
        ("hep-ex updates on arXiv.org", ("hep-ex",)),
        ("cs.LG updates on arXiv.org", ("cs.LG",)),
        ("Some blog", ()),
    ],
)
def test_categories_in_title(title: str, expected: tuple[str, ...]) -> None:
    assert fields.categories_in_title(title) == expected


def test_categories_in_url() -> None:
    assert fields.categories_in_url("http://rss.arxiv.org/rss/cs.LG+stat.ML") == ("cs.LG", "stat.ML")
    assert fields.categories_in_url("http://rss.arxiv.org/atom/cs.LG") == ("cs.LG",)
    assert fields.categories_in_url("https://example.org/feed") == ()


def test_dates_are_aware() -> None:
    when = fields.parse_rfc822("Thu, 24 Sep 2026 00:00:00 -0400")
    assert when is not None
    assert when.date() == dt.date(2026, 9, 24)
    assert fields.to_utc(when) == dt.datetime(2026, 9, 24, 4, tzinfo=UTC)
    assert fields.parse_rfc822("Mon, 2 Apr 2007 19:18:42 GMT") == dt.datetime(
        2007, 4, 2, 19, 18, 42, tzinfo=UTC
    )
    assert fields.parse_iso("2025-12-15T18:59:57Z") == dt.datetime(2025, 12, 15, 18, 59, 57, tzinfo=UTC)
    assert fields.parse_day("2011-01-23") == dt.datetime(2011, 1, 23, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["", "yesterday", "Thu, 99 Foo 2026", "2026-13-45", None])
def test_dates_unreadable_are_none(bad: str | None) -> None:
    assert fields.parse_rfc822(bad) is None
    assert fields.parse_iso(bad) is None
    assert fields.parse_day(bad) is None
