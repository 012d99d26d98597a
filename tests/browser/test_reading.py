"""Issue 14 in Chromium: an honest keyword filter, keyboard-usable stars and authors, the FAQ anchor,
"for you" without stars, the stars page, a phone-sized layout, and axe-core on every kind of page."""

from __future__ import annotations

from typing import Any

import pytest

from tests.arxiv_api import ArxivApiServer
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


def test_buttons_work_before_the_page_scripts_arrive(watched: Watched, site: Site) -> None:
    """static/js/early.js: a star toggles, and a click on [Kimi] is kept, while triage.js is held back
    (a big day on a slow line); once it arrives the star stays and the FAQ opens."""
    page = watched.page
    paper, other = site.day_ids[2], ASTRO_IDS[0]
    held: list[Any] = []
    page.route("**/static/js/triage.js*", lambda route: held.append(route))
    page.goto(LISTING, wait_until="commit")
    star = page.locator(f'[id="star-{paper}"]')
    star.wait_for()
    for _ in range(100):  # the route's callback runs while Playwright waits
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "triage.js was not requested"
    assert page.evaluate("() => typeof setStarred") == "undefined"  # the page's scripts are not in
    star.click()
    assert star.get_attribute("aria-pressed") == "true" and star.inner_text() == "★"
    assert paper in page.evaluate("() => JSON.parse(localStorage.getItem('coolpapers.stars'))")
    kimi = page.locator(f'[id="kimi-{other}"]')
    kimi.click()
    assert kimi.get_attribute("aria-busy") == "true" and page.url.endswith(LISTING)  # kept, not followed
    held[0].continue_()
    page.wait_for_function("() => typeof paintStars === 'function' && document.readyState === 'complete'")
    page.locator(f'[id="faq-view-{other}"]').wait_for(state="visible")
    assert kimi.get_attribute("aria-expanded") == "true" and kimi.get_attribute("aria-busy") is None
    assert star.get_attribute("aria-pressed") == "true"  # triage.js painted the same stars
    page.wait_for_function(
        "(id) => document.getElementById('faq-view-' + id).dataset.status === 'ready'",
        arg=other,
        timeout=60_000,
    )


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


def test_faq_says_what_it_is_doing_then_who_wrote_it_from_what(watched: Watched, site: Site) -> None:
    page = watched.page
    paper = site.day_ids[20]  # a FAQ no other test opens: it is written while this test watches
    open_listing(watched)
    page.locator(f'[id="kimi-{paper}"]').click()
    view = page.locator(f'[id="faq-view-{paper}"]')
    # While it is written: which question of how many (the prompt's list), never a bare "Writing...".
    page.wait_for_function(
        "(id) => /^Writing question [2-9] of \\d+…$/.test("
        "(document.querySelector('[id=\"faq-view-' + id + '\"] .faq-status') || {}).textContent || '')",
        arg=paper,
        timeout=30_000,
    )
    screenshot(page, "faq-progress")
    page.wait_for_function(
        "(id) => document.getElementById('faq-view-' + id).dataset.status === 'ready'",
        arg=paper,
        timeout=60_000,
    )
    assert view.locator(".faq-status").count() == 0
    meta = view.locator(".faq-meta").inner_text()
    assert meta.startswith("Written by fake-llm from the abstract only, because this server is set to")
    screenshot(page, "faq-written")


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
    badge = page.locator("h2.title a.badge-code").first  # the code badge, on papers that link code
    if width < 600 and badge.count():
        badge.scroll_into_view_if_needed()
        box = _box(badge)
        assert box["width"] >= 24 and box["height"] >= 24, box
    # The day's total stays on the heading's line: its middle within the line of the category's name.
    apart = page.evaluate(
        """() => {
            const h1 = document.querySelector('h1.listing-title');
            const range = document.createRange();
            range.selectNodeContents(h1.firstChild);
            const name = range.getBoundingClientRect();
            const total = h1.querySelector('.total').getBoundingClientRect();
            return Math.abs((total.top + total.bottom) / 2 - (name.top + name.bottom) / 2) - name.height / 2;
        }"""
    )
    assert apart < 0, f"the total is {apart:.0f} px below the heading's first line"
    # Nothing of the header or the page spills sideways; every header link is on screen.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    nav = page.locator("header.site-header nav")
    widths = nav.evaluate(
        "e => [e.scrollWidth, e.clientWidth, ...[...e.parentNode.children].map(c => c.className + ':' + c.offsetWidth)]"
    )
    assert widths[0] <= widths[1], f"the site nav overflows: {widths}"
    for link in page.locator("header.site-header nav a").all():
        if link.is_visible():
            box = _box(link)
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, (link.inner_text(), box)
    screenshot(page, f"listing-{width}x{height}")
    page.goto("/status")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    screenshot(page, f"status-{width}x{height}")
    page.goto("/docs")
    page.locator("#swagger-ui .info").wait_for()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    screenshot(page, f"docs-{width}x{height}")


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_docs_page_has_the_site_header_and_follows_the_theme(
    watched: Watched, site: Site, theme: str
) -> None:
    page = watched.page
    page.emulate_media(color_scheme=theme)
    page.goto("/docs")
    page.locator("#swagger-ui .info .title").wait_for()
    assert page.locator("header.site-header a.brand").inner_text() == "Cool Papers"
    assert page.locator("#theme-toggle").is_visible()
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    swagger = page.evaluate("() => getComputedStyle(document.getElementById('swagger-ui')).filter")
    if theme == "dark":
        assert background == "rgb(21, 22, 26)" and "invert" in swagger, (background, swagger)
    else:
        assert background == "rgb(255, 255, 255)" and swagger == "none", (background, swagger)
    screenshot(page, f"docs-{theme}")
    # The reader's own choice wins over the system's, as on every page.
    page.locator("#theme-toggle").click()
    flipped = page.evaluate("() => getComputedStyle(document.getElementById('swagger-ui')).filter")
    assert ("invert" in flipped) != ("invert" in swagger)


AXE_PAGES = [LISTING, f"/arxiv/{ASTRO_IDS[0]}", "/arxiv/search?query=galaxies", "/stars", "/status"]


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("path", AXE_PAGES)
def test_axe_finds_no_serious_violation(watched: Watched, site: Site, path: str, theme: str) -> None:
    page = watched.page
    page.emulate_media(color_scheme=theme)
    page.goto(path)
    page.wait_for_load_state("load")
    violations = _serious_violations(page)
    assert violations == [], "\n".join(violations)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_axe_finds_no_serious_violation_while_a_paper_is_fetched_nor_after(
    watched: Watched, site: Site, offline_arxiv: ArxivApiServer, theme: str
) -> None:
    """A paper not stored: the page that waits for a slow arXiv, then the one it reloads to (unknown)."""
    arxiv_id = "2401.99811" if theme == "light" else "2401.99812"  # a lookup is remembered per process
    offline_arxiv.delays[arxiv_id] = 3.0
    page = watched.page
    page.emulate_media(color_scheme=theme)
    page.goto(f"/arxiv/{arxiv_id}")
    assert f"fetching {arxiv_id} from arXiv" in page.locator("#lookups").inner_text()
    pending = _serious_violations(page)
    assert pending == [], "\n".join(pending)
    with page.expect_navigation(timeout=15_000):  # the poll reloads once arXiv has answered
        pass
    page.wait_for_load_state("load")
    assert page.locator("#lookups").count() == 0 and arxiv_id in page.locator("main").inner_text()
    ended = _serious_violations(page)
    assert ended == [], "\n".join(ended)
    # The page it ends on is a 404 (arXiv does not know the id), which Chromium logs as an error.
    watched.errors.remove(
        f"console: Failed to load resource: the server responded with a status of 404 (Not Found) "
        f"({site.url}/arxiv/{arxiv_id})"
    )


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_axe_finds_no_serious_violation_in_the_api_docs_with_every_operation_open(
    watched: Watched, site: Site, theme: str
) -> None:
    """Swagger UI's own markup had 100-odd: low-contrast badges and links, a link inside each
    operation's button, unnamed lists, examples a keyboard could not scroll."""
    page = watched.page
    page.emulate_media(color_scheme=theme)
    page.goto("/docs")
    operations = page.locator("#swagger-ui .opblock-summary-control")
    operations.first.wait_for()
    for index in range(operations.count()):
        operations.nth(index).click()
    page.locator("#swagger-ui .opblock-body").nth(operations.count() - 1).wait_for()
    violations = _serious_violations(page)
    assert violations == [], "\n".join(violations)


def _serious_violations(page: Any) -> list[str]:
    page.add_script_tag(url="/static/vendor/axe-core/axe.min.js")
    found: list[str] = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))"""
    )
    return found
