"""Issue 14 in Chromium: an honest keyword filter, keyboard-usable stars and authors, the FAQ anchor,
"for you" without stars, the stars page, a phone-sized layout, and axe-core on every kind of page."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import (
    ASTRO_IDS,
    CHROMIUM,
    HOSTILE_LISTING,
    LISTING,
    PAPERS_ON_DAY,
    Site,
    Watched,
    screenshot,
)
from tests.browser.test_pages import open_listing, visible_ids

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's Chromium is not installed (apt-get install chromium)"
    ),
]
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

SHOWN = "() => document.querySelectorAll('div.paper:not([hidden])').length"


def test_keyword_filter_never_empties_a_listing_silently(watched: Watched, site: Site) -> None:
    page = watched.page
    open_listing(watched)
    page.keyboard.press("Control+f")  # the browser's own find: not taken by the page
    assert page.locator("#keyword-bar").is_hidden()
    page.keyboard.press("/")
    page.locator("#keyword-bar").wait_for(state="visible")
    assert page.locator("#kw-toggle").get_attribute("aria-expanded") == "true"
    page.keyboard.type("zzzzqqq")
    page.locator("#kw-filter").check()
    notice = page.locator("#kw-notice")
    notice.wait_for(state="visible")
    assert page.evaluate(SHOWN) == PAPERS_ON_DAY  # nothing matches: everything stays, and it says so
    assert "no paper matches" in notice.inner_text()
    assert page.locator("#kw-count").inner_text() == f"0 / {PAPERS_ON_DAY}"
    page.locator("#kw-include").fill("galaxies")
    page.wait_for_function(f"() => ({SHOWN})() < 10")
    matches = len(visible_ids(watched))
    assert "filter on: galaxies" in notice.inner_text()
    assert f"{matches} of {PAPERS_ON_DAY} shown" in notice.inner_text()
    page.keyboard.press("Escape")  # Esc closes the bar; the notice stays while the filter is on
    assert page.locator("#keyword-bar").is_hidden()
    assert notice.is_visible()
    screenshot(page, "filter-notice")
    open_listing(watched, HOSTILE_LISTING)  # another listing: the filter is still on, and visible
    assert page.locator("#kw-notice").is_visible()
    page.locator("#kw-clear").click()
    assert page.locator("#kw-notice").is_hidden()
    open_listing(watched)
    assert page.evaluate(SHOWN) == PAPERS_ON_DAY
    # Highlighting only: the count is of matches, not of papers shown.
    page.locator("#kw-toggle").click()
    page.locator("#kw-include").fill("galaxies")
    page.wait_for_function("() => document.getElementById('kw-count').textContent !== ''")
    assert page.locator("#kw-count").inner_text() == f"{matches} / {PAPERS_ON_DAY}"
    assert page.evaluate(SHOWN) == PAPERS_ON_DAY
    assert page.locator("#kw-notice").is_hidden()


def test_star_is_a_button_and_authors_are_one_tab_stop(watched: Watched, site: Site) -> None:
    page = watched.page
    paper = site.day_ids[1]
    open_listing(watched)
    star = page.locator(f'[id="star-{paper}"]')
    assert star.evaluate("e => e.tagName") == "BUTTON"
    title = page.locator(f'[id="title-{paper}"]').text_content() or ""
    assert star.get_attribute("aria-label") == f"Star {title.strip()}"[:125]
    star.focus()
    page.keyboard.press("Space")
    assert star.get_attribute("aria-pressed") == "true"
    page.keyboard.press("Enter")
    assert star.get_attribute("aria-pressed") == "false"
    assert page.evaluate("() => window.scrollY") == 0 or page.url.endswith(LISTING)
    authors = page.locator(f'[id="authors-{paper}"] a.author')
    if authors.count() > 1:
        authors.first.focus()
        page.keyboard.press("ArrowRight")
        assert page.evaluate("() => document.activeElement.textContent") == authors.nth(1).text_content()
    tab_stops = page.eval_on_selector_all(
        f'[id="authors-{paper}"] a.author', "els => els.filter(e => e.tabIndex >= 0).length"
    )
    assert tab_stops == 1


def test_reopening_a_faq_counts_once(watched: Watched, site: Site) -> None:
    page = watched.page
    paper = ASTRO_IDS[3]
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if "/arxiv/star?" in r.url else None)
    open_listing(watched)
    kimi = page.locator(f'[id="kimi-{paper}"]')
    kimi.click()
    assert kimi.get_attribute("aria-expanded") == "true"
    page.wait_for_function(
        "(id) => document.getElementById('faq-view-' + id).dataset.status === 'ready'",
        arg=paper,
        timeout=60_000,
    )
    kimi.click()
    assert kimi.get_attribute("aria-expanded") == "false"
    kimi.click()
    page.wait_for_timeout(300)
    assert len([u for u in posts if "key=kimi" in u]) == 1, posts


def test_paper_page_opens_its_faq_at_the_anchor(watched: Watched, site: Site) -> None:
    page = watched.page
    paper = ASTRO_IDS[2]
    page.goto(f"/arxiv/{paper}#faq")
    view = page.locator(f'section#faq [id="faq-view-{paper}"]')
    view.wait_for(state="visible")
    page.wait_for_function(
        "(id) => document.getElementById('faq-view-' + id).dataset.status === 'ready'",
        arg=paper,
        timeout=60_000,
    )
    assert view.locator(".faq-item").count() >= 1
    # Related papers are compact: their abstracts are clamped to a few lines.
    related = page.locator("#related .paper .summary").first
    if related.count():
        assert related.evaluate("e => getComputedStyle(e).webkitLineClamp") == "2"


def test_for_you_without_stars_says_so(watched: Watched, site: Site) -> None:
    page = watched.page
    open_listing(watched, f"{LISTING}&sort=foryou")
    page.wait_for_function("() => document.body.dataset.ranked !== undefined")
    assert page.evaluate("() => document.body.dataset.ranked") == "nostars"
    assert "you have none yet" in page.locator("#foryou-notice").inner_text()


def test_stars_page_follows_unstarring(watched: Watched, site: Site) -> None:
    page = watched.page
    first, second = site.day_ids[3], site.day_ids[7]
    open_listing(watched)
    page.locator(f'[id="star-{first}"]').click()
    page.locator(f'[id="star-{second}"]').click()
    page.goto("/stars")
    page.wait_for_function("() => document.querySelectorAll('#stars-papers div.paper').length === 2")
    page.locator(f'[id="star-{second}"]').click()
    assert page.locator("#stars-total").inner_text() == "(1)"
    assert page.locator("#stars-export").get_attribute("href") == f"/arxiv/{first}"
    page.locator(f'[id="star-{first}"]').click()
    assert page.locator("#stars-export").is_hidden()
    assert page.locator("#stars-empty").is_visible()
    # The shared link (an export) has a heading.
    page.goto(f"/arxiv/{first},{second}")
    assert page.locator("h1").count() == 1 and "2 papers" in page.locator("h1").inner_text()


def _box(locator: Any) -> dict[str, float]:
    box = locator.bounding_box()
    assert box is not None
    return box


@pytest.mark.parametrize("size", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_layout_at_both_sizes(watched: Watched, site: Site, size: tuple[int, int]) -> None:
    page = watched.page
    width, height = size
    page.set_viewport_size({"width": width, "height": height})
    open_listing(watched)
    header = _box(page.locator("header.site-header"))
    brand = _box(page.locator("header .brand"))
    assert header["height"] < brand["height"] * 2 + 24, header  # one row
    paper = site.day_ids[0]
    controls = page.locator(f'[id="{paper}"] h2.title').locator("a, button")
    for i in range(controls.count()):
        if controls.nth(i).get_attribute("class") == "title-link":
            continue
        box = _box(controls.nth(i))
        if width < 600:
            assert box["width"] >= 24 and box["height"] >= 24, (controls.nth(i).inner_html(), box)
    screenshot(page, f"listing-{width}x{height}")
    page.goto("/status")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    screenshot(page, f"status-{width}x{height}")


AXE_PAGES = [LISTING, f"/arxiv/{ASTRO_IDS[0]}", "/arxiv/search?query=galaxies", "/stars", "/status"]


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("path", AXE_PAGES)
def test_axe_finds_no_serious_violation(watched: Watched, site: Site, path: str, theme: str) -> None:
    page = watched.page
    page.emulate_media(color_scheme=theme)
    page.goto(path)
    page.wait_for_load_state("load")
    page.add_script_tag(url="/static/vendor/axe-core/axe.min.js")
    violations = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))"""
    )
    assert violations == [], "\n".join(violations)
