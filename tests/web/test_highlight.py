"""Search highlighting: whole words marked in escaped text, math and entities left whole."""

from __future__ import annotations

import pytest

from app.web.templating import highlight


@pytest.mark.parametrize(
    ("text", "terms", "marked"),
    [
        ("Staining of H&E slides", ["amp", "slides"], "Staining of H&amp;E <mark>slides</mark>"),
        ("a < b and c > d", ["lt", "gt", "b"], "a &lt; <mark>b</mark> and c &gt; d"),
        ('The "quoted" word', ["34", "quot", "word"], "The &#34;quoted&#34; <mark>word</mark>"),
        ("<script>alert(1)</script> Graphs", ["script", "graphs"],
         "&lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt; <mark>Graphs</mark>"),
        ("Bounds $O(n \\log n)$ for log trees", ["log"], "Bounds $O(n \\log n)$ for <mark>log</mark> trees"),
        ("Nothing to mark", None, "Nothing to mark"),
    ],
)  # fmt: skip
def test_highlight_marks_words_and_never_cuts_an_entity(
    text: str, terms: list[str] | None, marked: str
) -> None:
    assert str(highlight(text, terms)) == marked
