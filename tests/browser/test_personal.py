"""Issue 16 in Chromium: "not interested", negative keywords, the reason of a pick, following authors,
and sync through a secret link between two browsers (two contexts: two localStorages), then revoked."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.browser.conftest import (
    ASTRO_IDS,
    CHROMIUM,
    HOSTILE_ID,
    LISTING,
    REPORT_CSP_VIOLATIONS,
    Site,
    Watched,
    screenshot,
)
from tests.browser.test_pages import open_listing

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's Chromium is not installed (apt-get install chromium)"
    ),
]
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

FORYOU = f"{LISTING}&sort=foryou"
AXE = """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))"""


def _stored(page: Any, key: str) -> Any:
    return page.evaluate(f"() => JSON.parse(localStorage.getItem('coolpapers.{key}'))")


def _rank_request(page: Any, path: str = FORYOU) -> tuple[dict[str, Any], dict[str, Any]]:
    """Open a "for you" listing; the body it sent to /api/v1/rank and the answer it got."""
    with page.expect_response(lambda r: r.url.endswith("/api/v1/rank")) as answer:
        page.goto(path)
    response = answer.value
    assert response.ok, response.status
    page.wait_for_function("() => document.body.dataset.ranked !== undefined")
    return json.loads(response.request.post_data or "{}"), response.json()


def _axe_clean(page: Any) -> None:
    page.add_script_tag(url="/static/vendor/axe-core/axe.min.js")
    violations = page.evaluate(AXE)
    assert violations == [], "\n".join(violations)


@pytest.mark.timeout(300)  # the rank request needs the day's vectors (the background embedding)
def test_dismiss_is_a_pressed_button_dims_the_paper_and_goes_to_the_ranking(
    watched: Watched, site: Site
) -> None:
    site.wait_embedded()
    page = watched.page
    liked, dismissed = ASTRO_IDS[0], ASTRO_IDS[1]
    open_listing(watched)
    button = page.locator(f'[id="dismiss-{dismissed}"]')
    assert button.evaluate("e => e.tagName") == "BUTTON"
    title = (page.locator(f'[id="title-{dismissed}"]').text_content() or "").strip()
    assert button.get_attribute("aria-label") == f"Not interested in {title}"[:139]
    assert button.get_attribute("aria-pressed") == "false"
    page.locator(f'[id="star-{liked}"]').click()
    button.focus()
    page.keyboard.press("Enter")  # a real button: the keyboard presses it
    assert button.get_attribute("aria-pressed") == "true"
    paper = page.locator(f'[id="{dismissed}"]')
    assert "dismissed" in (paper.get_attribute("class") or "")
    assert page.locator(f'[id="summary-{dismissed}"]').is_hidden()  # dimmed: the title alone, muted
    _axe_clean(page)
    page.reload()
    page.wait_for_function("() => typeof paintDismissed === 'function'")
    assert page.locator(f'[id="dismiss-{dismissed}"]').get_attribute("aria-pressed") == "true"
    assert _stored(page, "dismissed") == [dismissed]

    sent, answer = _rank_request(page)
    assert sent["dismissed"] == [dismissed] and sent["stars"] == [liked]
    ranked = page.eval_on_selector_all("#ranked-papers > div.paper", "els => els.map(e => e.id)")
    assert ranked[-1] == dismissed  # never on top: last, after the starred one
    assert ranked[-2] == liked
    # The reason of each pick is the server's, shown as text under the title.
    whys = {item["arxiv_id"]: item.get("why") for item in answer["items"]}
    for arxiv_id in ranked[:5]:
        why = whys.get(arxiv_id)
        line = page.locator(f'[id="{arxiv_id}"] p.why')
        if why:
            assert line.text_content() == f"close to “{why['title']}”"
            assert line.locator("*").count() == 0  # text, never markup
        elif line.count():
            assert (line.text_content() or "").startswith("matches “")
    if any(whys.values()):
        near = next(i for i in ranked if whys.get(i))
        assert whys[near]["arxiv_id"] == liked  # the one starred paper explains the picks
    screenshot(page, "foryou-why")
    # Starring a dismissed paper takes the dismissal back: one verdict per paper.
    open_listing(watched)
    page.locator(f'[id="star-{dismissed}"]').click()
    assert page.locator(f'[id="dismiss-{dismissed}"]').get_attribute("aria-pressed") == "false"
    assert _stored(page, "dismissed") == []
    # So does opening a paper (which stars it, as on papers.cool) by its FAQ, and starring it by "s".
    opened = site.day_ids[33]  # a paper no other test opens (an open is counted)
    for target, how in ((opened, "faq"), (dismissed, "key")):
        page.locator(f'[id="dismiss-{target}"]').click()
        assert target in _stored(page, "dismissed") and target not in _stored(page, "stars")
        if how == "faq":
            page.locator(f'[id="kimi-{target}"]').click()
            page.locator(f'[id="kimi-{target}"]').click()  # and closed again
        else:
            page.locator(f'[id="{target}"]').focus()
            page.keyboard.press("s")
        assert target in _stored(page, "stars") and target not in _stored(page, "dismissed")
        assert "dismissed" not in (page.locator(f'[id="{target}"]').get_attribute("class") or "")


@pytest.mark.timeout(300)
def test_negative_keywords_are_kept_and_sent_to_the_ranking(watched: Watched, site: Site) -> None:
    site.wait_embedded()
    page = watched.page
    open_listing(watched)
    page.locator(f'[id="star-{ASTRO_IDS[0]}"]').click()
    page.keyboard.press("/")
    negative = page.locator("#kw-negative")
    negative.fill("Supernova,  dark   energy")
    negative.press("Tab")
    assert page.evaluate("() => document.querySelectorAll('div.paper:not([hidden])').length") == len(
        site.day_ids
    )  # it weighs the ranking; it hides nothing
    page.reload()
    page.wait_for_function("() => typeof paintDismissed === 'function'")
    assert page.locator("#kw-negative").input_value() == "Supernova,  dark   energy"
    sent, _ = _rank_request(page)
    assert sent["negative_keywords"] == ["supernova", "dark   energy"]
    ranked = page.eval_on_selector_all("#ranked-papers > div.paper", "els => els.map(e => e.id)")
    # The supernova paper is as close to the starred astronomy paper as the other two, but it has the
    # words the reader does not want: it comes after them.
    assert ranked.index(ASTRO_IDS[2]) > max(ranked.index(ASTRO_IDS[1]), ranked.index(ASTRO_IDS[3])), ranked


def test_follow_an_author_marks_and_filters_their_papers(watched: Watched, site: Site) -> None:
    page = watched.page
    page.goto("/arxiv/search?author=Vera+Rubin")
    page.wait_for_function("() => typeof paintFollowed === 'function'")
    assert page.locator("#author-feed").get_attribute("href") == "/arxiv/search/feed?author=Vera%20Rubin"
    feed = page.locator('link[rel="alternate"][type="application/atom+xml"]').get_attribute("href")
    assert feed == "/arxiv/search/feed?author=Vera%20Rubin"
    follow = page.locator("#author-follow")
    assert follow.get_attribute("aria-pressed") == "false"
    follow.click()
    assert follow.get_attribute("aria-pressed") == "true" and follow.inner_text() == "Following Vera Rubin"
    _axe_clean(page)
    open_listing(watched)
    marked = page.eval_on_selector_all("div.paper.by-followed", "els => els.map(e => e.id)")
    assert sorted(marked) == sorted(ASTRO_IDS)
    assert page.locator(f'[id="authors-{ASTRO_IDS[0]}"] a.author.followed').inner_text() == "Vera Rubin"
    page.locator("#kw-toggle").click()
    page.locator("#kw-followed").check()
    shown = page.eval_on_selector_all("div.paper", "els => els.filter(e => e.offsetParent).map(e => e.id)")
    assert sorted(shown) == sorted(ASTRO_IDS)
    assert page.locator("#kw-followed-count").inner_text() == f"{len(ASTRO_IDS)} / {len(site.day_ids)}"
    # With the bar closed, the filter still says it is on, and is cleared from there.
    page.locator("#kw-toggle").click()
    notice = page.locator("#followed-notice")
    assert notice.is_visible() and f"{len(ASTRO_IDS)} of {len(site.day_ids)} shown" in notice.inner_text()
    page.locator("#followed-clear").click()
    assert notice.is_hidden() and not page.locator("#kw-followed").is_checked()
    assert _stored(page, "followed-only") is False
    assert page.eval_on_selector_all("div.paper", "els => els.filter(e => !e.offsetParent).length") == 0
    # The keyboard: "f" on a focused name (one tab stop per list, arrows between names) follows,
    # and does nothing else (the listing's "f" opens the focused paper's FAQ).
    first = page.locator(f'[id="authors-{site.day_ids[0]}"] a.author').first
    first.focus()
    page.keyboard.press("f")
    name = first.inner_text()
    assert "followed" in (first.get_attribute("class") or "")
    assert page.locator(f'[id="kimi-{site.day_ids[0]}"]').get_attribute("aria-expanded") != "true"
    assert site.day_ids[0] not in (_stored(page, "stars") or [])
    assert name in _stored(page, "authors") and "Vera Rubin" in _stored(page, "authors")
    assert page.locator("#follow-status").text_content() == f"Following {name}"
    page.keyboard.press("f")
    assert name not in _stored(page, "authors")


@contextmanager
def _second_browser(browser: Any, site: Site) -> Iterator[tuple[Any, list[str]]]:
    """Another context (its own localStorage), watched like the `watched` fixture's."""
    context = browser.new_context(base_url=site.url, viewport={"width": 390, "height": 844})
    context.set_default_timeout(15_000)
    errors: list[str] = []
    context.expose_function("__reportCspViolation", lambda text: errors.append(f"CSP violation: {text}"))
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    try:
        yield page, errors
    finally:
        context.close()
    assert errors == [], "errors in the second browser:\n" + "\n".join(errors)


def _synced(page: Any) -> None:
    page.wait_for_function("() => document.body.dataset.sync === 'synced'")


def _create_link(page: Any) -> str:
    page.locator("#sync-open").click()
    page.locator("#sync-create").click()
    page.locator("#sync-new").wait_for(state="visible")
    _synced(page)
    link = page.locator("#sync-link").input_value()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/#sync=[A-Za-z0-9_-]{40,}", link), link
    page.wait_for_function(
        "() => (document.querySelector('#sync-qr img') || {}).naturalWidth > 0"
    )  # the QR code
    return str(link)


def test_sync_merges_two_browsers_per_item_both_ways(watched: Watched, site: Site, browser: Any) -> None:
    a = watched.page
    one, two, three, four = site.day_ids[1], site.day_ids[2], site.day_ids[3], site.day_ids[5]
    open_listing(watched)
    a.locator(f'[id="star-{one}"]').click()
    a.locator(f'[id="dismiss-{two}"]').click()
    link = _create_link(a)
    _axe_clean(a)  # with the dialog open, link and QR code shown
    screenshot(a, "sync-dialog")
    a.locator("#sync-close").click()
    a.locator("#sync-open").click()  # shown once: not again
    assert a.locator("#sync-new").is_hidden() and a.locator("#sync-on").is_visible()
    a.locator("#sync-close").click()

    with _second_browser(browser, site) as (b, _):
        b.goto(LISTING)
        b.wait_for_function("() => typeof paintDismissed === 'function'")
        b.locator(f'[id="star-{three}"]').click()  # B's own star, before it knows the link
        b.goto(link)
        b.locator("#sync-ask").wait_for(state="visible")  # never adopted unasked
        assert b.locator("#sync-replaces").is_hidden()
        b.locator("#sync-accept").click()
        _synced(b)
        assert "#sync" not in b.url  # the token leaves the address bar and the history
        assert set(_stored(b, "stars")) == {one, three}
        assert _stored(b, "dismissed") == [two]
        b.goto(LISTING)
        _synced(b)
        assert b.locator(f'[id="star-{one}"]').get_attribute("aria-pressed") == "true"
        assert "dismissed" in (b.locator(f'[id="{two}"]').get_attribute("class") or "")
        # B's changes, a star added and one removed, are pushed a moment later.
        with b.expect_response(lambda r: r.request.method == "PUT" and "/api/v1/profiles/" in r.url):
            b.locator(f'[id="star-{four}"]').click()
            b.locator(f'[id="star-{one}"]').click()
        _synced(b)

    a.reload()
    _synced(a)
    assert set(_stored(a, "stars")) == {three, four}  # the removal travelled too (a tombstone)
    assert a.locator(f'[id="star-{four}"]').get_attribute("aria-pressed") == "true"
    assert a.locator(f'[id="star-{one}"]').get_attribute("aria-pressed") == "false"


def test_a_sync_link_someone_else_made_takes_nothing_unless_accepted(watched: Watched, site: Site) -> None:
    """Opening a link adopted it at once: whoever made it read this browser's stars and follows from
    then on (and a browser already syncing silently changed profiles)."""
    theirs = httpx.post(f"{site.url}/api/v1/profiles").json()["token"]
    page = watched.page
    open_listing(watched)
    page.locator(f'[id="star-{site.day_ids[4]}"]').click()
    mine = _create_link(page).split("#sync=", 1)[1]
    page.locator("#sync-close").click()
    page.goto(f"/#sync={theirs}")
    page.locator("#sync-ask").wait_for(state="visible")
    assert page.locator("#sync-replaces").is_visible()  # this browser syncs already
    _axe_clean(page)
    page.locator("#sync-decline").click()
    assert page.locator("#sync-dialog").is_hidden() and "#sync" not in page.url
    assert _stored(page, "sync")["token"] == mine
    page.reload()
    _synced(page)
    page.wait_for_timeout(500)  # a push would have gone by now
    assert httpx.get(f"{site.url}/api/v1/profiles/{theirs}").json()["items"]["stars"] == []


def test_revoke_forgets_the_profile(watched: Watched, site: Site) -> None:
    page = watched.page
    open_listing(watched)
    page.locator(f'[id="star-{site.day_ids[0]}"]').click()
    link = _create_link(page)
    token = link.split("#sync=", 1)[1]
    profile = httpx.get(f"{site.url}/api/v1/profiles/{token}").json()
    assert [i["value"] for i in profile["items"]["stars"]] == [site.day_ids[0]]
    page.locator("#sync-close").click()
    page.locator("#sync-open").click()
    page.locator("#sync-revoke").click()
    page.wait_for_function("() => document.getElementById('sync-status').textContent.includes('revoked')")
    assert page.locator("#sync-off").is_visible()
    assert httpx.get(f"{site.url}/api/v1/profiles/{token}").status_code == 404
    assert "token" not in _stored(page, "sync")
    assert _stored(page, "stars") == [site.day_ids[0]]  # this browser keeps its copy
    page.reload()
    page.wait_for_function("() => typeof paintDismissed === 'function'")
    assert page.evaluate("() => document.body.dataset.sync") is None  # no longer syncs


@pytest.mark.timeout(300)
def test_the_reason_of_a_pick_is_text_even_when_it_holds_markup(watched: Watched, site: Site) -> None:
    """A keyword is the reader's, but the paper it matches is hostile: the reason stays text."""
    site.wait_embedded()
    page = watched.page
    markup = '<img src=x onerror="window.__pwned=3">'  # words of the hostile paper's abstract
    open_listing(watched)
    page.locator(f'[id="star-{ASTRO_IDS[0]}"]').click()
    page.keyboard.press("/")
    page.locator("#kw-include").fill(markup)
    page.locator("#kw-include").press("Tab")
    _, answer = _rank_request(page, f"/arxiv/{HOSTILE_ID},{ASTRO_IDS[1]}?sort=foryou")
    (item,) = [i for i in answer["items"] if i["arxiv_id"] == HOSTILE_ID]
    assert item["why"] is None and item["keyword"] == markup  # not close to the star; the word matches
    line = page.locator(f'[id="{HOSTILE_ID}"] p.why')
    assert line.text_content() == f"matches “{markup}”"
    assert line.locator("*").count() == 0
    assert page.evaluate("() => window.__pwned") is None
    near = page.locator(f'[id="{ASTRO_IDS[1]}"] p.why')  # the other: close to the starred title
    assert (near.text_content() or "").startswith("close to “Spectroscopic survey of dwarf galaxies")
