"""Follow-up questions, the own-model dialog and a FAQ from an own model in a real browser (static/js/ask.js,
ownkey.js, site.js)."""

from __future__ import annotations

import json
from typing import Any

from tests.browser.conftest import Site, Watched
from tests.browser.test_pages import PWNED, open_listing
from tests.llm_server import FakeLLMServer


def open_faq(page: Any, paper: str) -> Any:
    page.locator(f'[id="kimi-{paper}"]').click()
    page.wait_for_function(
        "(id) => document.getElementById('faq-view-' + id).dataset.status === 'ready'",
        arg=paper,
        timeout=60_000,
    )
    form = page.locator(f'[id="faq-view-{paper}"] + form.ask-form')
    form.wait_for(state="visible")
    return form


def test_a_follow_up_answer_streams_in_and_its_hostile_markup_runs_nothing(
    watched: Watched, site: Site
) -> None:
    page, paper = watched.page, site.day_ids[23]  # a paper no other test opens (opens are counted)
    open_listing(watched)
    form = open_faq(page, paper)
    # The loopback model answers hostile markup to any message naming __pwned (tests/browser/conftest.py).
    form.locator("input[name=question]").fill("<b>What</b> is window.__pwned?")
    form.locator("button[type=submit]").click()
    item = form.locator(".ask-item").first
    form.locator(".ask-item[data-status=ready]").wait_for(timeout=30_000)
    assert "Written by fake-llm" in item.locator(".faq-meta").inner_text()
    assert item.locator(".ask-q").inner_text() == "<b>What</b> is window.__pwned?"  # the question as text
    answer = item.locator(".ask-a")
    assert "window.__pwned=5" in answer.inner_text()  # the hostile answer, shown as text
    assert answer.locator("script, img, iframe, [onerror]").count() == 0
    assert page.locator('a[href^="javascript:" i], [src^="javascript:" i]').count() == 0
    assert "abstract only" in item.locator(".faq-meta").inner_text()
    page.wait_for_timeout(300)
    assert page.evaluate(PWNED) is None
    # Closing the FAQ hides the form with it.
    page.locator(f'[id="kimi-{paper}"]').click()
    form.wait_for(state="hidden")


def test_the_own_model_dialog_keeps_the_key_in_the_browser_and_sends_it_with_questions(
    watched: Watched, site: Site
) -> None:
    page = watched.page
    open_listing(watched)
    # The FAQ first, by the site's model: with an own model set, it would be asked of that model
    # (llm.example, which this server cannot reach; the next test has a reachable one).
    form = open_faq(page, site.day_ids[21])
    page.locator("button.ownkey-toggle").click()
    dialog = page.locator("#ownkey-dialog")
    dialog.locator("input[name=url]").fill("https://llm.example/v1")
    dialog.locator("input[name=key]").fill("sk-browser-secret")
    dialog.locator("input[name=model]").fill("my-model")
    dialog.locator("button[value=save]").click()
    page.wait_for_function("() => localStorage.getItem('coolpapers.ownModel') !== null")  # on `close`
    stored = json.loads(page.evaluate("() => localStorage.getItem('coolpapers.ownModel')"))
    assert stored == {"url": "https://llm.example/v1", "key": "sk-browser-secret", "model": "my-model"}
    assert dialog.locator("input[name=key]").input_value() == ""  # not left in the page
    sent: list[dict[str, str]] = []

    def answer(route: Any) -> None:  # the server's part is tested in tests/summarize/test_ask.py
        sent.append(route.request.headers)
        event = {
            "status": "ready",
            "html": "<p>From <em>my</em> model.</p>",
            "model": "my-model",
            "shared": False,
        }
        body = f"event: answer\ndata: {json.dumps(event | {'context': 'abstract', 'note': None})}\n\n"
        route.fulfill(status=200, content_type="text/event-stream", body=body)

    page.route("**/ask", answer)
    form.locator("input[name=question]").fill("Which model answers?")
    form.locator("button[type=submit]").click()
    form.locator(".ask-item .faq-meta").filter(has_text="your model my-model").wait_for()
    assert sent[0]["x-llm-key"] == "sk-browser-secret" and sent[0]["x-llm-model"] == "my-model"
    assert sent[0]["x-llm-base-url"] == "https://llm.example/v1"
    # Close and Forget never wait on a valid URL: a half-typed one is left as it was.
    page.locator("button.ownkey-toggle").click()
    dialog.locator("input[name=url]").fill("llm.example/v1")
    dialog.locator("button[value=cancel]").click()
    assert not dialog.evaluate("d => d.open")
    assert json.loads(page.evaluate("() => localStorage.getItem('coolpapers.ownModel')")) == stored
    # Forget: nothing left in the browser, nothing sent.
    page.locator("button.ownkey-toggle").click()
    dialog.locator("input[name=url]").fill("not a url")
    dialog.locator("button[value=clear]").click()
    page.wait_for_function("() => localStorage.getItem('coolpapers.ownModel') === null")


def test_a_faq_opened_with_an_own_model_streams_from_that_model_and_says_so(
    watched: Watched, site: Site
) -> None:
    page, paper = watched.page, site.day_ids[22]  # a paper no other test opens: no shared FAQ yet
    secret = "sk-browser-own-faq-secret"
    with FakeLLMServer(
        answer=lambda messages: "From **the reader's** model.", api_key=secret, chunk_delay=0.05
    ) as own:
        open_listing(watched)
        stored = {"url": own.base_url, "key": secret, "model": "reader-model"}
        page.evaluate("(own) => localStorage.setItem('coolpapers.ownModel', JSON.stringify(own))", stored)
        sent: list[dict[str, str]] = []
        page.on(
            "request",
            lambda request: (
                sent.append(request.headers | {"method": request.method})
                if "/summary" in request.url
                else None
            ),
        )
        shared_before = len(site.llm.chat_requests)
        page.locator(f'[id="kimi-{paper}"]').click()
        view = page.locator(f'[id="faq-view-{paper}"]')
        page.wait_for_function(  # streamed: seen while it is written, as the shared FAQ is
            "(id) => document.getElementById('faq-view-' + id).dataset.status === 'running'", arg=paper
        )
        page.wait_for_function(
            "(id) => document.getElementById('faq-view-' + id).dataset.status === 'ready'",
            arg=paper,
            timeout=60_000,
        )
        assert "Written by your own model reader-model" in view.locator(".faq-meta").inner_text()
        assert view.locator(".faq-a strong").first.inner_text() == "the reader's"
        assert view.locator(".faq-item").count() == len(own.chat_requests) > 1
    assert sent[0]["method"] == "POST" and sent[0]["x-llm-key"] == secret
    assert sent[0]["x-llm-model"] == "reader-model"
    assert len(site.llm.chat_requests) == shared_before  # the site's model heard nothing
    assert secret not in site.log_tail()
