"""Model output to HTML: Markdown, math left in its delimiters for KaTeX, nothing hostile kept."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup

from app.summarize.render import render_markdown


def test_render_keeps_inline_math_from_markdown() -> None:
    html = str(render_markdown("Energy $a_1 * b_2 * c$ and *this*"))
    soup = BeautifulSoup(html, "html.parser")
    assert soup.select_one("span.math.inline").text == "$a_1 * b_2 * c$"  # no emphasis inside math
    assert soup.select_one("em").text == "this"


@pytest.mark.parametrize(
    ("text", "selector", "tex"),
    [
        ("$$\\sum_i x_i < 3$$", "div.math.block", "$$\\sum_i x_i < 3$$"),
        ("so $$a_1 * b_2$$ holds", "p > span.math.display", "$$a_1 * b_2$$"),  # a div cannot sit in a <p>
    ],
)
def test_render_keeps_display_math_in_its_delimiters(text: str, selector: str, tex: str) -> None:
    found = BeautifulSoup(str(render_markdown(text)), "html.parser").select_one(selector)
    assert found is not None and found.text.strip() == tex


def test_render_leaves_prices_alone() -> None:
    assert str(render_markdown("costs $5 and $10")) == "<p>costs $5 and $10</p>\n"


def test_render_keeps_hostile_output_inert() -> None:
    html = str(
        render_markdown(
            "<script>alert(1)</script> $</span><script>alert(2)</script>$ "
            "[x](javascript:alert(3)) [ok](https://example.org)"
        )
    )
    soup = BeautifulSoup(html, "html.parser")
    assert soup.select("script") == []
    assert [a["href"] for a in soup.select("a")] == ["https://example.org"]
    assert soup.select_one("a")["rel"] == ["nofollow", "noopener", "noreferrer"]
    assert "&lt;/span&gt;&lt;script&gt;" in html  # math is escaped text, not markup


def test_an_image_in_model_output_is_a_link_never_fetched() -> None:
    """An <img> was rendered: every reader's browser and feed reader fetched the model's chosen URL."""
    html = str(render_markdown("see ![the plot <b>](https://evil.example/track.png) and ![](data:x)"))
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("img") is None
    [link] = soup.find_all("a")
    assert link["href"] == "https://evil.example/track.png" and link.text == "the plot <b>"
    assert "nofollow" in link["rel"]
