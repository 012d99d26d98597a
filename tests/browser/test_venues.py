"""A venue listing in Chromium: open an edition, star a paper, open its FAQ from the loopback model.

Its own uvicorn (the shared `site` holds no venue papers): a fresh migrated database holding the
recorded COLT 2024 volume (`coolpapers venue ingest --file`), the FAQ from tests/llm_server.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.browser.conftest import ROOT, serve_app
from tests.conftest import DATA, _fresh_database
from tests.llm_server import FakeLLMServer

COLT = DATA / "venues" / "pmlr" / "v247-colt2024" / "colt2024.bib"


@pytest.fixture(scope="module")
def venue_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("venue-browser")
    keep = ("REDIS_URL", "LLM_API_KEY", "ADMIN_TOKEN", "LLM_PROMPT_FILE", "EMBED_MODEL")
    env = {name: value for name, value in os.environ.items() if name not in keep}
    env |= {"DATABASE_URL": _fresh_database(folder), "DATA_DIR": str(folder / "data"), "LOG_LEVEL": "WARNING"}
    bin_dir = Path(sys.executable).parent
    ingest = [str(bin_dir / "coolpapers"), "venue", "ingest", "--file", str(COLT), "--no-embed"]
    done = subprocess.run(ingest, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    llm = FakeLLMServer(chunk_delay=0.02).start()
    env |= {
        "LLM_BASE_URL": llm.base_url,
        "LLM_MODEL": "fake-llm",
        "LLM_RETRIES": "0",
        "SUMMARY_FULL_TEXT": "false",
    }
    try:
        with serve_app(env, folder / "uvicorn.log") as url:
            yield url
    finally:
        llm.close()


def test_venue_listing_star_and_faq(browser: Any, venue_site: str) -> None:
    context = browser.new_context(base_url=venue_site, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: None if r.url.startswith(venue_site) else errors.append(f"left: {r.url}"))
    try:
        page.goto("/venue/COLT.2024")
        assert page.locator("h1").first.inner_text().startswith("COLT.2024")
        cards = page.locator("div.papers > div.paper")
        assert cards.count() == 170
        pid = cards.first.get_attribute("id") or ""
        assert pid.endswith("@v247@PMLR")
        assert page.locator(f'[id="subjects-{pid}"] a.subject-1').inner_text().startswith("COLT.2024")
        page.locator(f'[id="star-{pid}"]').click()
        assert page.locator(f'[id="star-{pid}"]').get_attribute("aria-pressed") == "true"
        assert pid in (page.evaluate("() => JSON.stringify(Object.assign({}, localStorage))") or "")
        page.locator(f'[id="kimi-{pid}"]').click()
        page.wait_for_function(
            "(id) => document.getElementById('faq-view-' + id).dataset.status === 'ready'",
            arg=pid,
            timeout=60_000,
        )
        assert page.locator(f'[id="faq-view-{pid}"] .faq-item').count() >= 1
        page.wait_for_function(
            "(id) => document.getElementById('kimi-stars-' + id).textContent === '1'", arg=pid
        )
        # [PDF] of a conference paper opens its source's PDF in a tab: PDF.js may read arXiv's only
        # (the CSP refused the fetch, and the viewer blamed arXiv).
        pdf_url = page.locator(f'[id="pdf-{pid}"]').get_attribute("data") or ""
        assert pdf_url.startswith("https://proceedings.mlr.press/")
        with context.expect_page() as opened, context.expect_event("request", lambda r: r.url == pdf_url):
            page.locator(f'[id="pdf-{pid}"]').click()  # no network here: the tab shows an error page
        opened.value.close()
        assert page.locator(f'[id="pdf-view-{pid}"]').is_hidden()
        # The stars page lists it (it asked /arxiv/{ids}, which refuses a venue id: nothing was shown).
        page.goto("/stars")
        page.locator(f'#stars-papers [id="{pid}"]').wait_for()
        exported = page.locator("#stars-export-venue")
        assert exported.is_visible() and exported.get_attribute("href") == "/venue/" + quote(pid, safe="")
        assert page.locator("#stars-export").is_hidden()  # no arXiv stars
        assert errors == []
    finally:
        context.close()
