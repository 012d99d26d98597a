"""A big day in Chromium: the abstracts past the first LISTING_EAGER_ABSTRACTS come in the page's second
request and are filled in as text; the keyword bar finds words in them; nothing is logged as an error.

Its own uvicorn (the shared `site` holds a day smaller than the default 100): a fresh database with
the 100 recorded API entries re-issued as one cs.LG day, LISTING_EAGER_ABSTRACTS=5.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from bs4 import BeautifulSoup

from app.arxiv.parse import parse_feed
from app.arxiv.types import Feed
from app.config import Settings
from app.store.db import session_scope
from app.store.ingest import ingest_feed
from tests.browser.conftest import serve_app, watching
from tests.conftest import DATA, _fresh_database

EAGER = 5
DAY = dt.date(2026, 11, 10)
HOSTILE = "Robust </p><script>window.__pwned = 1</script> <b>bold</b> zyxwvutsrq abstract"


@pytest.fixture(scope="module")
def lazy_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("lazy-browser")
    settings = Settings(database_url=_fresh_database(folder), data_dir=folder / "data")
    entries = parse_feed((DATA / "api" / "api-2025-cs-100-entries.xml").read_bytes()).entries
    day = [
        dataclasses.replace(
            entry,
            arxiv_id=f"2611.{n:05d}",
            announce_type="new",
            primary_category="cs.LG",
            categories=("cs.LG",),
            abstract=HOSTILE if n == len(entries) else entry.abstract,
        )
        for n, entry in enumerate(entries, start=1)
    ]
    with session_scope(settings) as session:
        feed = Feed(kind="rss2", title="t", entries=tuple(day), announced_on=DAY)
        ingest_feed(session, feed=feed, categories=["cs.LG"])
    keep = ("REDIS_URL", "LLM_API_KEY", "LLM_BASE_URL", "ADMIN_TOKEN", "LLM_PROMPT_FILE", "EMBED_MODEL")
    env = {name: value for name, value in os.environ.items() if name not in keep}
    env |= {"DATABASE_URL": settings.database_url, "DATA_DIR": str(settings.data_dir), "LOG_LEVEL": "WARNING"}
    env |= {"LISTING_EAGER_ABSTRACTS": str(EAGER), "EMBED_PRELOAD": "false"}
    with serve_app(env, folder / "uvicorn.log") as url:
        yield url


def test_later_abstracts_are_filled_in_as_text_and_searched(browser: Any, lazy_site: str) -> None:
    whole = BeautifulSoup(httpx.get(f"{lazy_site}/arxiv/cs.LG").text, "html.parser")  # every abstract
    expected = {div["id"]: div.select_one("p.summary").get_text() for div in whole.select("div.paper")}  # type: ignore[union-attr]
    assert len(expected) == 100
    with watching(browser, lazy_site) as seen:  # errors, CSP, requests elsewhere: fail at the end
        page = seen.page
        sent = page.goto("/arxiv/cs.LG")
        assert sent is not None and sent.status == 200
        assert len(sent.body()) < len(str(whole))  # the browser's page left the later abstracts out
        page.wait_for_function("() => !document.querySelector('p.summary[data-lazy]')")
        shown = page.evaluate(
            "() => Object.fromEntries(Array.from(document.querySelectorAll('div.paper'))"
            ".map(p => [p.id, p.querySelector('p.summary').textContent]))"
        )
        assert shown.keys() == expected.keys()
        # KaTeX renders the math of the ones near the screen: those without any are compared whole.
        plain = [pid for pid, text in expected.items() if not re.search(r"\$|\\\(|\\\[", text)]
        assert len(plain) > 50 and all(shown[pid] == expected[pid] for pid in plain)
        assert page.evaluate(
            "() => window.__pwned === undefined && !document.querySelector('.summary script, .summary b')"
        )
        assert page.locator("#abstracts-failed").is_hidden()
        page.add_script_tag(url="/static/vendor/axe-core/axe.min.js")
        violations = page.evaluate(
            """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
                .filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => v.id)"""
        )
        assert violations == []
        # A word only the last (lazy) abstract has: the keyword bar finds it.
        page.keyboard.press("/")
        page.locator("#kw-include").fill("zyxwvutsrq")
        last = list(expected)[-1]
        page.wait_for_function("(id) => document.getElementById(id).classList.contains('kw-match')", arg=last)
        assert page.locator("#kw-count").inner_text().startswith("1 / 100")


def test_an_abstract_shown_before_its_text_came_gets_its_more_button(browser: Any, lazy_site: str) -> None:
    """A lazy paper on screen while its abstract is still on its way is measured empty (it fits); once
    the text comes (reader.js' coolpapers:abstracts) it is measured again and a long one is clamped."""
    whole = BeautifulSoup(httpx.get(f"{lazy_site}/arxiv/cs.LG").text, "html.parser")
    texts = {div["id"]: div.select_one("p.summary").get_text() for div in whole.select("div.paper")}  # type: ignore[union-attr]
    paper = max(list(texts)[EAGER : EAGER + 5], key=lambda pid: len(texts[pid]))
    held: list[Any] = []
    with watching(browser, lazy_site) as seen:
        page = seen.page
        page.route("**/arxiv/cs.LG?part=abstracts", lambda route: held.append(route))  # answered below
        page.goto("/arxiv/cs.LG")
        page.wait_for_function("() => document.querySelectorAll('button.summary-more').length > 0")
        page.locator(f'[id="{paper}"]').scroll_into_view_if_needed()
        page.wait_for_timeout(300)  # the clamp's observer measures it: empty, it fits
        assert page.locator(f'[id="{paper}"] p.summary[data-lazy]').count() == 1
        assert page.locator(f'[id="{paper}"] button.summary-more').count() == 0
        assert len(held) == 1
        held[0].continue_()
        page.wait_for_function("() => !document.querySelector('p.summary[data-lazy]')")
        page.locator(f'[id="{paper}"] button.summary-more').wait_for()


def test_the_page_says_so_when_the_later_abstracts_do_not_come(browser: Any, lazy_site: str) -> None:
    context = browser.new_context(base_url=lazy_site, viewport={"width": 390, "height": 844})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.route("**/arxiv/cs.LG?part=abstracts", lambda route: route.fulfill(status=503, body="busy"))
    try:
        page.goto("/arxiv/cs.LG")
        notice = page.locator("#abstracts-failed")
        notice.wait_for(state="visible")
        assert notice.locator("a").get_attribute("href") == "/arxiv/cs.LG?abstracts=all"
        assert page.locator("p.summary[data-lazy]").count() == 100 - EAGER
    finally:
        context.close()
