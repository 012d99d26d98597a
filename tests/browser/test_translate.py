"""The language select in Chromium: remembered by the browser, a translation shown as text under the
original (a hostile paper's included), the FAQ asked in the chosen language. Console errors and CSP
violations fail every test (tests/browser/conftest.py)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import CHROMIUM, HOSTILE_ID, HOSTILE_LISTING, Site, Watched

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's Chromium is not installed (apt-get install chromium)"
    ),
]
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

PWNED = "() => typeof window.__pwned === 'undefined' ? null : window.__pwned"
READY = "() => typeof renderMathInElement === 'function' && document.getElementById('lang-select') !== null"


def test_language_is_remembered_and_translations_stay_text(watched: Watched, site: Site) -> None:
    page = watched.page
    page.goto(HOSTILE_LISTING)
    page.wait_for_function(READY)
    paper = page.locator(f'[id="{HOSTILE_ID}"]')
    assert paper.locator(".title-translate").count() == 0  # no language chosen: no button
    page.select_option("#lang-select", "zh")
    assert page.evaluate("() => localStorage.getItem('coolpapers.lang')") == "zh"
    assert page.evaluate("() => document.documentElement.dataset.faqLang") == "zh"
    paper.locator(".title-translate").click()
    title = paper.locator(".translation-title")
    title.wait_for(state="visible", timeout=30_000)
    assert "__pwned" in title.inner_text()  # the model echoed the hostile title: shown as text
    assert paper.locator(".translation").get_attribute("lang") == "zh"
    assert paper.locator(".translation script, .translation img, .translation iframe").count() == 0
    assert page.evaluate(PWNED) is None
    # Reloaded: the choice is kept, the button is back, the FAQ is asked in Chinese.
    page.reload()
    page.wait_for_function(READY)
    assert page.locator("#lang-select").input_value() == "zh"
    assert paper.locator(".title-translate").count() == 1
    with page.expect_request(lambda request: "/summary?stream=true&lang=zh" in request.url):
        page.locator(f'[id="kimi-{HOSTILE_ID}"]').click()
    # Back to the original: the buttons and the translations go, the FAQ is asked as before.
    page.select_option("#lang-select", "")
    assert paper.locator(".title-translate").count() == 0
    assert page.evaluate("() => localStorage.getItem('coolpapers.lang')") is None
    assert page.evaluate(PWNED) is None
    assert watched.errors == []
