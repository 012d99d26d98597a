"""Reading a long day in Chromium (static/js/reader.js, static/js/pdfview.js): PDF.js inside the paper,
the category picker, keyboard triage, titles only, clamped abstracts, the sticky toolbar, the "new since
your last visit" divider and the bar of starred papers; axe-core with the new controls on screen."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from app.web.picker import category_groups
from tests.browser.conftest import CHROMIUM, LISTING, PAPERS_ON_DAY, Site, Watched, screenshot
from tests.browser.test_pages import open_listing

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's Chromium is not installed (apt-get install chromium)"
    ),
]
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

SIZES = [(1280, 800), (390, 844)]
SIZE_IDS = ["desktop", "phone"]
PDF_TIMEOUT = 60_000  # PDF.js and its worker, parsed for the first time on a busy machine
ACTIVE = "() => document.activeElement && document.activeElement.id"


def make_pdf(pages: int = 2) -> bytes:
    """A small valid PDF: `pages` US-letter pages, each a black bar and a line of Helvetica (a standard
    font PDF.js draws from its vendored font files)."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(pages))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>")
    font = 3 + 2 * pages
    for i in range(pages):
        stream = f"0 0 0 rg 72 600 468 120 re f BT /F1 28 Tf 72 500 Td (Cool Papers test page {i + 1}) Tj ET"
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R"
            f" /Resources << /Font << /F1 {font} 0 R >> >> >>"
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


class PdfServer:
    """PDFs on loopback, as arXiv serves them (with `Access-Control-Allow-Origin: *`) under /pdf/;
    under /refused/, what a refusal looks like (403, a page of text)."""

    def __init__(self) -> None:
        body = make_pdf()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                refused = self.path.startswith("/refused/")
                reply = b"Access denied" if refused else body
                self.send_response(403 if refused else 200)
                self.send_header("Content-Type", "text/plain" if refused else "application/pdf")
                self.send_header("Content-Length", str(len(reply)))
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> PdfServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pdf_server() -> Iterator[PdfServer]:
    with PdfServer() as server:
        yield server


def serve_arxiv_pdfs(watched: Watched, server: PdfServer, *, refuse: bool = False) -> list[str]:
    """Answer the page's requests for https://arxiv.org/pdf/... with what the loopback server sends for
    the same path (status, headers, bytes): the browser reads it as arXiv's, under the page's CSP.
    (Playwright's answers skip the browser's CORS check: whether arXiv's headers allow the read is
    not tested here.) Returns the URLs answered: they never leave the machine."""
    answered: list[str] = []

    def answer(route: Any) -> None:
        url = route.request.url
        answered.append(url)
        path = url.removeprefix("https://arxiv.org/pdf/")
        reply = httpx.get(f"{server.url}/{'refused' if refuse else 'pdf'}/{path}")
        route.fulfill(status=reply.status_code, headers=dict(reply.headers), body=reply.content)

    watched.page.route("https://arxiv.org/pdf/**", answer)
    return answered


def forgive(watched: Watched, urls: list[str], *, also: tuple[str, ...] = ()) -> None:
    """The routed arXiv requests look like requests leaving the app to the `watched` fixture: drop
    exactly those (and the console lines naming them that `also` expects); any other error stays."""

    def expected(error: str) -> bool:
        return any(url in error for url in urls) and (
            error.startswith("request left the app") or any(word in error for word in also)
        )

    watched.errors[:] = [error for error in watched.errors if not expected(error)]


def set_size(watched: Watched, size: tuple[int, int]) -> None:
    watched.page.set_viewport_size({"width": size[0], "height": size[1]})


def top_of(page: Any, paper: str) -> float:
    return float(page.evaluate("(id) => document.getElementById(id).getBoundingClientRect().top", paper))


def wait_below_toolbar(page: Any, paper: str) -> None:
    """Wait until `paper`'s top is below the sticky toolbar (papers drawn as the page scrolls can move
    it for a frame or two), then check it is on screen."""
    page.wait_for_function(
        """(id) => document.getElementById(id).getBoundingClientRect().top
                   >= document.getElementById('toolbar').getBoundingClientRect().bottom - 1""",
        arg=paper,
    )
    assert top_of(page, paper) < page.viewport_size["height"] / 2


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_pdf_opens_in_pdfjs_inside_the_paper(
    watched: Watched, site: Site, pdf_server: PdfServer, size: tuple[int, int]
) -> None:
    page = watched.page
    set_size(watched, size)
    answered = serve_arxiv_pdfs(watched, pdf_server)
    paper = site.day_ids[33 if size[0] > 600 else 34]  # papers no other test opens: counts stay theirs
    open_listing(watched)
    link = page.locator(f'[id="pdf-{paper}"]')
    if size[0] > 600:  # the keyboard on a desktop, a tap on a phone
        page.locator(f'[id="{paper}"]').evaluate("e => Reader.focusPaper(e)")
        page.keyboard.press("o")
    else:
        link.click()
    view = page.locator(f'[id="pdf-view-{paper}"]')
    page.wait_for_function(
        "(id) => document.getElementById('pdf-view-' + id).dataset.pdf === 'shown'",
        arg=paper,
        timeout=PDF_TIMEOUT,
    )
    assert link.get_attribute("aria-expanded") == "true"
    assert view.locator("iframe").count() == 0
    assert "2 pages" in view.locator(".pdf-status").inner_text()
    new_tab = view.locator("a.pdf-new-tab")
    assert new_tab.get_attribute("href") == link.get_attribute("data")
    assert new_tab.get_attribute("target") == "_blank" and "noopener" in (new_tab.get_attribute("rel") or "")
    page.wait_for_function(
        "(id) => document.querySelector('[id=\"pdf-view-' + id + '\"] .pdf-page[data-drawn]')",
        arg=paper,
        timeout=PDF_TIMEOUT,
    )
    canvas = view.locator("canvas.pdf-canvas").first
    assert canvas.get_attribute("aria-label") == "Page 1 of 2"
    # The page is drawn: the black bar and the text are there, not a blank canvas.
    dark = canvas.evaluate(
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 64) n++; return n / (d.length / 4); }"""
    )
    assert dark > 0.05, dark
    box = canvas.bounding_box()
    assert box is not None and 0 < box["width"] <= size[0]
    # The text layer: the page's words over the canvas, where the canvas draws them, selectable.
    words = view.locator(".pdf-page[data-page='1'] .textLayer span", has_text="Cool Papers test page 1")
    words.wait_for(timeout=PDF_TIMEOUT)
    inside = words.bounding_box()
    assert (
        inside is not None
        and box["x"] <= inside["x"]
        and inside["x"] + inside["width"] <= box["x"] + box["width"]
    )
    # 28-point text at the canvas' scale (612 points wide), half-way down the page as drawn (y = 500).
    assert abs(inside["height"] - 28 * box["width"] / 612) < 0.5 * 28 * box["width"] / 612
    assert box["y"] + 0.25 * box["height"] < inside["y"] < box["y"] + 0.45 * box["height"]
    selected = words.evaluate(
        """span => { const range = document.createRange(); range.selectNodeContents(span);
                     const s = getSelection(); s.removeAllRanges(); s.addRange(range); return s.toString(); }"""
    )
    assert selected == "Cool Papers test page 1"
    screenshot(page, f"pdf-{size[0]}x{size[1]}")
    # Zoom: the page is drawn again a quarter wider (the viewer scrolls sideways), then fits again.
    zoom_in, fit = view.get_by_role("button", name="Zoom in"), view.get_by_role("button", name="Fit width")
    assert fit.is_disabled() and view.locator(".pdf-zoom-level").inner_text() == "fit width"
    zoom_in.click()
    assert view.locator(".pdf-zoom-level").inner_text() == "125%"
    wider = view.locator(".pdf-page[data-page='1'][data-drawn] canvas")
    wider.wait_for(timeout=PDF_TIMEOUT)
    zoomed = wider.bounding_box()
    assert zoomed is not None and abs(zoomed["width"] - 1.25 * box["width"]) < 2, (zoomed, box)
    view.locator(".pdf-page[data-page='1'] .textLayer span", has_text="Cool Papers").wait_for(
        timeout=PDF_TIMEOUT
    )
    fit.click()
    view.locator(".pdf-page[data-page='1'][data-drawn] canvas").wait_for(timeout=PDF_TIMEOUT)
    again = view.locator(".pdf-page[data-page='1'] canvas").bounding_box()
    assert again is not None and abs(again["width"] - box["width"]) < 2
    page.add_script_tag(url="/static/vendor/axe-core/axe.min.js")
    assert page.evaluate(AXE) == []  # the zoom controls, the pages' region, the text layer
    link.click()  # the toggle closes it
    assert view.is_hidden() and link.get_attribute("aria-expanded") == "false"
    assert answered and all(url == link.get_attribute("data") for url in answered)
    forgive(watched, answered)


def test_pdf_that_cannot_be_read_falls_back_to_a_new_tab(
    watched: Watched, site: Site, pdf_server: PdfServer
) -> None:
    page = watched.page
    answered = serve_arxiv_pdfs(watched, pdf_server, refuse=True)
    paper = site.day_ids[35]
    open_listing(watched)
    page.locator(f'[id="pdf-{paper}"]').click()
    page.wait_for_function(
        "(id) => document.getElementById('pdf-view-' + id).dataset.pdf === 'failed'",
        arg=paper,
        timeout=PDF_TIMEOUT,
    )
    view = page.locator(f'[id="pdf-view-{paper}"]')
    assert "cannot be shown here: the server answered 403" in view.locator(".pdf-status").inner_text()
    assert view.locator("a.pdf-new-tab").get_attribute("href") == answered[0]
    # Chromium logs the refusal itself; nothing else may go wrong.
    forgive(watched, answered, also=("status of 403",))


def test_category_picker_chooses_what_the_index_and_header_show(watched: Watched, site: Site) -> None:
    page = watched.page
    page.goto("/")
    picker = page.locator("#cat-picker")
    picker.wait_for(state="visible")
    page.locator("#cat-picker summary").click()
    boxes = page.locator("#cat-picker input[name=category]")
    assert boxes.count() == sum(len(a.categories) for g in category_groups() for a in g.archives) > 150
    assert (
        page.locator('#cat-picker fieldset[data-archive="cs"] legend')
        .inner_text()
        .startswith("Computer Science")
    )
    # At first this server's categories are ticked; the reader unticks them and picks two others.
    defaults = page.eval_on_selector_all(
        "#cat-picker input[name=category]:checked", "els => els.map(e => e.value)"
    )
    assert set(defaults) == set(
        page.eval_on_selector_all("tr.category:not(.other)", "els => els.map(e => e.id.slice(4))")
    )
    for code in defaults[:-1]:
        page.locator(f'#cat-picker input[value="{code}"]').uncheck()
    assert page.locator("#cat-chosen-count").inner_text() == "1 chosen"
    page.locator(f'#cat-picker input[value="{defaults[-1]}"]').uncheck()
    assert page.locator("#cat-chosen-count").inner_text() == "0 chosen"
    # Searchable, by name or code.
    page.locator("#cat-search").fill("robotics")
    shown = page.eval_on_selector_all(
        "#cat-picker .cat-option",
        "els => els.filter(e => !e.hidden).map(e => e.querySelector('input').value)",
    )
    assert shown == ["cs.RO"]
    page.locator('#cat-picker input[value="cs.RO"]').check()
    page.locator("#cat-search").fill("galaxies")
    page.locator('#cat-picker input[value="astro-ph.GA"]').check()
    page.locator("#cat-search").fill("")
    assert page.locator("#cat-chosen-count").inner_text() == "2 chosen"
    # The index shows the chosen categories only; the header lists them, with their names.
    header = page.locator("#reader-my-categories a")
    assert header.all_inner_texts() == ["astro-ph.GA", "cs.RO"]  # the picker's order
    assert header.nth(1).get_attribute("title") == "Robotics"
    rows = page.locator("table.categories tr.category:not([hidden])")
    assert rows.count() == 2
    assert "not fetched by this server yet" in rows.nth(1).inner_text()
    assert page.locator('[id="cat-cs.LG"]').is_hidden()
    screenshot(page, "category-picker")
    page.goto(LISTING)  # kept in the browser, on every page
    assert page.locator("#reader-my-categories a").all_inner_texts() == ["astro-ph.GA", "cs.RO"]
    page.goto("/")
    assert page.locator('#cat-picker input[value="cs.RO"]').is_checked()
    set_size(watched, (390, 844))  # on a phone: one column, nothing wider than the screen
    page.locator("#cat-picker summary").click()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    assert page.locator("#reader-my-categories").is_hidden()  # the phone's header keeps one row
    screenshot(page, "category-picker-390x844")
    page.locator("#cat-reset").click()
    assert page.locator('[id="cat-cs.LG"]').is_visible()
    assert page.locator("#reader-my-categories").count() == 0


def test_keyboard_triage_moves_stars_opens_and_lists_the_keys(watched: Watched, site: Site) -> None:
    page = watched.page
    set_size(watched, (1280, 800))
    open_listing(watched)
    ids = site.day_ids
    page.keyboard.press("j")
    assert page.evaluate(ACTIVE) == ids[0]
    for _ in range(6):
        page.keyboard.press("j")
    assert page.evaluate(ACTIVE) == ids[6]
    page.keyboard.press("k")
    assert page.evaluate(ACTIVE) == ids[5]
    page.locator(f'[id="star-{ids[36]}"]').focus()  # tabbed to: a paper no other test opens (counted)
    page.keyboard.press("j")
    assert page.evaluate(ACTIVE) == ids[37]
    page.keyboard.press("k")
    paper = ids[36]
    assert page.evaluate(ACTIVE) == paper
    # Scrolled into view below the sticky toolbar, with a focus ring.
    assert page.evaluate("() => window.scrollY") > 0
    wait_below_toolbar(page, paper)
    assert page.locator(f'[id="{paper}"]').evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    page.keyboard.press("s")
    assert page.locator(f'[id="star-{paper}"]').get_attribute("aria-pressed") == "true"
    page.keyboard.press("s")
    assert page.locator(f'[id="star-{paper}"]').get_attribute("aria-pressed") == "false"
    page.keyboard.press("f")
    assert page.locator(f'[id="kimi-{paper}"]').get_attribute("aria-expanded") == "true"
    page.keyboard.press("f")
    assert page.locator(f'[id="kimi-{paper}"]').get_attribute("aria-expanded") == "false"
    # Typing in a field is typing: "/" opens the keyword bar, and j stays a letter there.
    page.keyboard.press("/")
    page.keyboard.type("jk")
    assert page.locator("#kw-include").input_value() == "jk"
    page.locator("#kw-include").fill("")
    page.keyboard.press("Escape")
    assert page.locator("#keyword-bar").is_hidden()
    # "?" lists the keys in a modal dialog; Esc closes it and focus comes back.
    page.locator(f'[id="{paper}"]').focus()
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    dialog.wait_for(state="visible")
    assert dialog.locator("kbd").all_inner_texts()[:5] == ["j", "k", "s", "o", "f"]
    page.keyboard.press("j")  # the dialog is modal: the listing does not move behind it
    assert page.locator("#reader-keys").evaluate("d => d.open")
    screenshot(page, "reader-keys")
    page.keyboard.press("Escape")
    assert dialog.is_hidden()
    assert page.evaluate(ACTIVE) == paper


def test_copy_puts_the_paper_on_the_clipboard(watched: Watched, site: Site) -> None:
    page = watched.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_listing(watched)
    paper = site.day_ids[3]
    button = page.locator(f'[id="copy-{paper}"]')
    button.click()
    page.wait_for_function(f"() => document.getElementById('copy-{paper}').textContent === '[Copied]'")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    title = (page.locator(f'[id="title-{paper}"]').text_content() or "").strip()
    first_author = page.locator(f'[id="authors-{paper}"] a.author').first.inner_text()
    assert copied.startswith(f"{title}\n{first_author}")
    assert copied.endswith(f"https://arxiv.org/abs/{paper}\n")


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_titles_only_and_clamped_abstracts(watched: Watched, site: Site, size: tuple[int, int]) -> None:
    page = watched.page
    set_size(watched, size)
    open_listing(watched)
    first = site.day_ids[0]
    summary = page.locator(f'[id="summary-{first}"]')
    more = page.locator(f'[id="{first}"] button.summary-more')
    more.wait_for()
    assert more.get_attribute("aria-expanded") == "false"
    assert more.get_attribute("aria-controls") == f"summary-{first}"
    clamped = summary.evaluate("e => e.getBoundingClientRect().height")
    assert summary.evaluate("e => getComputedStyle(e).webkitLineClamp") == "4"
    more.click()
    assert more.get_attribute("aria-expanded") == "true" and more.inner_text() == "less"
    assert summary.evaluate("e => e.getBoundingClientRect().height") > clamped
    more.click()
    assert more.get_attribute("aria-expanded") == "false"
    # Titles only: one line per paper, kept across pages.
    toggle = page.locator("#reader-compact")
    assert toggle.get_attribute("aria-pressed") == "false"
    tall = page.evaluate("() => document.querySelector('div.papers').getBoundingClientRect().height")
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "true"
    assert summary.is_hidden() and page.locator(f'[id="authors-{first}"]').is_hidden()
    assert page.locator(f'[id="title-{first}"]').is_visible()
    short = page.evaluate("() => document.querySelector('div.papers').getBoundingClientRect().height")
    assert short < tall / 2
    screenshot(page, f"titles-only-{size[0]}x{size[1]}")
    page.reload()
    page.wait_for_load_state("load")
    assert page.locator("#reader-compact").get_attribute("aria-pressed") == "true"
    assert page.locator(f'[id="summary-{first}"]').is_hidden()
    page.locator("#reader-compact").click()
    assert page.locator(f'[id="summary-{first}"]').is_visible()


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_toolbar_stays_on_screen_and_never_covers_the_paper(
    watched: Watched, site: Site, size: tuple[int, int]
) -> None:
    page = watched.page
    set_size(watched, size)
    open_listing(watched)
    page.mouse.wheel(0, 6000)
    page.wait_for_function("() => window.scrollY > 3000")
    toolbar = page.locator("#toolbar")
    box = toolbar.bounding_box()
    assert box is not None and abs(box["y"]) <= 1 and toolbar.is_visible()
    assert box["height"] < size[1] / 4  # a strip, not a wall
    for _ in range(3):
        page.keyboard.press("j")
        wait_below_toolbar(page, page.evaluate(ACTIVE))
    page.keyboard.press("k")
    wait_below_toolbar(page, page.evaluate(ACTIVE))
    screenshot(page, f"sticky-toolbar-{size[0]}x{size[1]}")


def test_new_since_last_visit_divider(watched: Watched, site: Site) -> None:
    page = watched.page
    open_listing(watched)
    assert page.locator("#reader-new-divider").count() == 0  # a first visit: nothing to compare with
    # The last visit saw the day without its last five papers (the feed was fetched again since).
    fresh = site.day_ids[-5:]
    page.evaluate(
        """(fresh) => {
             const all = JSON.parse(localStorage.getItem('coolpapers.reader.seen'));
             const key = Object.keys(all)[0];
             all[key].ids = all[key].ids.filter(id => !fresh.includes(id));
             localStorage.setItem('coolpapers.reader.seen', JSON.stringify(all));
           }""",
        fresh,
    )
    open_listing(watched)
    divider = page.locator("#reader-new-divider")
    assert divider.get_attribute("role") == "separator"
    assert divider.get_attribute("aria-label") == "5 new since your last visit"
    assert divider.evaluate("d => d.nextElementSibling.id") == fresh[0]
    assert page.eval_on_selector_all("div.paper.reader-new", "els => els.map(e => e.id)") == fresh
    assert page.locator("div.papers > div.paper").count() == PAPERS_ON_DAY  # markup kept: papers only
    divider.scroll_into_view_if_needed()
    screenshot(page, "new-since-last-visit")
    open_listing(watched)  # this visit is now the last one
    assert page.locator("#reader-new-divider").count() == 0


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_starred_bar_jumps_back_to_each_starred_paper(
    watched: Watched, site: Site, size: tuple[int, int]
) -> None:
    page = watched.page
    set_size(watched, size)
    open_listing(watched)
    bar = page.locator("#reader-starred")
    assert bar.is_hidden()
    first, second = site.day_ids[1], site.day_ids[30]
    page.locator(f'[id="star-{first}"]').click()
    page.locator(f'[id="star-{second}"]').click()
    page.wait_for_function("() => document.querySelectorAll('#reader-starred a').length === 2")
    links = bar.locator("a")
    assert bar.is_visible() and "2 starred here" in bar.inner_text()
    assert [links.nth(i).get_attribute("data-paper") for i in range(2)] == [first, second]
    page.evaluate("() => window.scrollTo(0, 0)")
    links.nth(1).click()
    assert page.evaluate(ACTIVE) == second
    wait_below_toolbar(page, second)
    assert top_of(page, second) < _box_top(bar)  # and above the bar
    screenshot(page, f"starred-bar-{size[0]}x{size[1]}")
    page.keyboard.press("s")  # unstar from the keyboard: the bar follows
    page.wait_for_function("() => document.querySelectorAll('#reader-starred a').length === 1")
    page.locator(f'[id="star-{first}"]').click()
    bar.wait_for(state="hidden")


def _box_top(locator: Any) -> float:
    box = locator.bounding_box()
    assert box is not None
    return float(box["y"])


AXE = """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))"""


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_axe_finds_nothing_serious_in_the_reading_controls(watched: Watched, site: Site, theme: str) -> None:
    page = watched.page
    page.emulate_media(color_scheme=theme)
    open_listing(watched)
    page.locator(f'[id="star-{site.day_ids[0]}"]').click()  # the starred bar on screen
    page.locator("#reader-starred").wait_for(state="visible")
    page.locator(f'[id="{site.day_ids[0]}"] button.summary-more').wait_for()
    page.add_script_tag(url="/static/vendor/axe-core/axe.min.js")
    assert page.evaluate(AXE) == []
    page.locator("#reader-compact").click()
    assert page.evaluate(AXE) == []
    page.keyboard.press("?")
    page.locator("#reader-keys").wait_for(state="visible")
    assert page.evaluate(AXE) == []
    page.keyboard.press("Escape")
    page.goto("/")
    page.locator("#cat-picker summary").click()
    page.locator('#cat-picker input[value="cs.RO"]').check()
    page.add_script_tag(url="/static/vendor/axe-core/axe.min.js")
    assert page.evaluate(AXE) == []
