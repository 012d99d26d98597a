"""The memory one request may take: listing pages capped at MAX_SHOW papers with a "next" link, and
heavy renders bounded per process (a few at once, one per URL, 503 + Retry-After past a second)."""

from __future__ import annotations

import contextvars
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi import HTTPException
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app import renders
from app.arxiv.parse import parse_feed
from app.config import Settings
from app.main import create_app
from app.renders import RenderGate
from app.store.db import session_scope
from app.store.ingest import ingest_feed
from app.store.venues import upsert_venue_papers
from app.venues.documents import parse_venue_file
from app.web import pages
from tests.conftest import DATA

RSS2 = DATA / "rss" / "rss2-2024-multicat-csLG+csAI+csCL+statML.xml"
DAY = "/arxiv/cs.LG?date=2026-09-24"  # three papers: 2609.26811, 2609.26820, 2009.13987
WNU = DATA / "venues" / "acl-anthology" / "2023.wnu.xml"  # one small edition, WNU.2023


@pytest.fixture
def loaded(session: Session) -> Session:
    ingest_feed(session, feed=parse_feed(RSS2.read_bytes()))
    return session


def test_listing_shows_at_most_max_show_and_links_the_rest(
    client: TestClient, loaded: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "MAX_SHOW", 2)
    for url in (DAY, f"{DAY}&show=5000"):  # the default ("all") and a larger show both stop at the cap
        soup = BeautifulSoup(client.get(url).text, "html.parser")
        assert [p["id"] for p in soup.select("div.paper")] == ["2609.26811", "2609.26820"]
        total = soup.select_one("span.total")
        assert total is not None and total.text == "Total: 3"
        link = soup.select_one("a.page-next")
        assert link is not None and link["href"] == "/arxiv/cs.LG?date=2026-09-24&show=2&skip=2"
    rest = BeautifulSoup(client.get(f"{DAY}&show=2&skip=2").text, "html.parser")
    assert [p["id"] for p in rest.select("div.paper")] == ["2009.13987"]
    assert rest.select_one("a.page-next") is None


def renders_gate() -> RenderGate:
    return renders.heavy_renders  # the gate the listing uses, patched here


def _hold(gate: RenderGate, key: str, seconds: float) -> threading.Thread:
    entered = threading.Event()

    def render() -> None:
        with gate.slot(key):
            entered.set()
            time.sleep(seconds)

    thread = threading.Thread(target=render)
    thread.start()
    assert entered.wait(5)
    return thread


def test_gate_refuses_another_page_past_the_wait_with_retry_after() -> None:
    gate = RenderGate(1)
    holder = _hold(gate, "/arxiv/cs.LG", renders.SLOT_WAIT + 1.0)
    started = time.monotonic()
    with pytest.raises(HTTPException) as refused, gate.slot("/arxiv/cs.CV"):
        pass
    waited = time.monotonic() - started
    assert renders.SLOT_WAIT - 0.1 <= waited < renders.SLOT_WAIT + 0.9
    assert refused.value.status_code == 503
    assert refused.value.headers == {"Retry-After": str(renders.RETRY_AFTER)}
    holder.join()
    with gate.slot("/arxiv/cs.CV"):  # free again
        pass


def test_gate_lets_readers_of_one_page_wait_for_its_render() -> None:
    gate = RenderGate(1)
    holder = _hold(gate, "/arxiv/cs.LG", renders.SLOT_WAIT + 0.5)  # longer than a slot's wait
    with gate.slot("/arxiv/cs.LG"):  # waits on the page, not on a slot: no 503
        pass
    holder.join()
    assert gate._pages == {}  # nothing left behind per URL


def test_heavy_listing_is_refused_when_every_slot_renders_but_a_kept_one_is_served(
    client: TestClient, loaded: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(renders, "HEAVY_PAPERS", 2)  # a day of three papers is a heavy one here
    monkeypatch.setattr(renders, "heavy_renders", RenderGate(1))
    kept = client.get(DAY)
    assert kept.status_code == 200
    holder = _hold(renders_gate(), "another page", 3 * renders.SLOT_WAIT + 1.5)  # three waits
    try:
        again = client.get(DAY)  # kept: served without a slot
        assert again.status_code == 200 and again.content == kept.content
        refused = client.get(f"{DAY}&show=2")  # not kept: it needs a slot, and none comes in time
        assert refused.status_code == 503 and refused.headers["retry-after"] == str(renders.RETRY_AFTER)
        assert "try again in a moment" in refused.text
        assert client.get(f"{DAY}&sort=popular").status_code == 503
        assert client.get("/arxiv/cs.LG/feed?date=2026-09-24").status_code == 503
        assert client.get("/arxiv/cs.AI?date=2026-09-24").status_code == 200  # a light day: no slot
    finally:
        holder.join()
    assert client.get(f"{DAY}&show=2").status_code == 200


def test_gate_runs_a_render_on_its_own_threads_with_the_request_context() -> None:
    """Heavy renders reuse the gate's few threads (and so their malloc arenas), not the request's."""
    gate, marker = RenderGate(2), contextvars.ContextVar("marker", default="unset")
    marker.set("this request")
    seen = {
        gate.run(f"/page/{n}", lambda: (threading.current_thread().name, marker.get())) for n in range(20)
    }
    assert {context for _, context in seen} == {"this request"}
    names = {name for name, _ in seen}
    assert len(names) <= 2 and all(name.startswith("heavy-render") for name in names)
    with pytest.raises(ZeroDivisionError):  # a failed render raises in the request and frees its slot
        gate.run("/broken", lambda: 1 // 0)
    with gate.slot("/a"), gate.slot("/b"):  # both slots free again
        pass
    assert gate._pages == {}


def test_page_handlers_run_on_at_most_page_threads_threads_at_once(
    settings_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twelve readers at once of listing pages (each request its own session, as served): never more
    than PAGE_THREADS handlers run together (each runnable thread is one more in the GIL's queue ahead
    of the event loop), on the page threads at RENDER_NICE, and all are served."""
    with session_scope(settings_env) as session:
        ingest_feed(session, feed=parse_feed(RSS2.read_bytes()))
    running, most, lock = 0, 0, threading.Lock()
    threads: set[tuple[str, int]] = set()
    render = pages._render_listing

    def counted(*args: Any, **kwargs: Any) -> str:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            threads.add((threading.current_thread().name.split("_")[0], nice))
        try:
            time.sleep(0.05)  # long enough for the others to pile up, were they let in
            return render(*args, **kwargs)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(pages, "_render_listing", counted)
    urls = [f"{DAY}&show={n}" for n in range(1, 13)]  # twelve URLs: none is kept for another
    with (
        TestClient(create_app(), raise_server_exceptions=False) as client,
        ThreadPoolExecutor(len(urls)) as readers,
    ):
        statuses = list(readers.map(lambda url: client.get(url).status_code, urls))
    assert statuses == [200] * len(urls)
    assert most == renders.PAGE_THREADS, most
    assert threads == {("page", renders.RENDER_NICE)}, threads


def _hold_cs_lg_renders(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Semaphore]:
    """Renders of the cs.LG listing wait for the event (set it to let them go); each releases the
    semaphore once it has started."""
    release, started = threading.Event(), threading.Semaphore(0)
    render = pages._render_listing

    def held(*args: Any, **kwargs: Any) -> str:
        if kwargs["cats"] == "cs.LG":
            started.release()
            assert release.wait(30)
        return render(*args, **kwargs)

    monkeypatch.setattr(pages, "_render_listing", held)
    return release, started


def test_a_heavy_render_waited_for_holds_no_page_thread(
    settings_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two heavy listings rendering at once (every page thread would wait for them) and a light listing
    asked meanwhile: it is served before they end."""
    with session_scope(settings_env) as session:
        ingest_feed(session, feed=parse_feed(RSS2.read_bytes()))
    monkeypatch.setattr(renders, "HEAVY_PAPERS", 2)  # the cs.LG day of three papers is a heavy one here
    release, started = _hold_cs_lg_renders(monkeypatch)
    heavy = [f"{DAY}&show={n}" for n in range(1, renders.PAGE_THREADS + 1)]  # one per page thread
    with (
        TestClient(create_app(), raise_server_exceptions=False) as client,
        ThreadPoolExecutor(len(heavy)) as readers,
    ):
        answers = [readers.submit(client.get, url) for url in heavy]
        for _ in heavy:
            assert started.acquire(timeout=10)  # every heavy render is under way
        try:
            asked = ThreadPoolExecutor(1).submit(client.get, "/arxiv/cs.AI?date=2026-09-24")
            assert asked.result(timeout=10).status_code == 200  # with the page threads held: a TimeoutError
            assert not any(answer.done() for answer in answers)
        finally:
            release.set()
        assert [answer.result().status_code for answer in answers] == [200] * len(heavy)


def _load_edition(session: Session) -> str:
    papers = parse_venue_file(WNU).papers
    upsert_venue_papers(session, papers=papers)
    session.commit()
    return f"/venue/{papers[0].edition}"


def test_a_heavy_venue_edition_takes_a_slot_like_a_heavy_day(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An edition of thousands of papers reads them all: past HEAVY_PAPERS its render, and its
    never-kept popular order, wait for a slot; the edition kept already does not."""
    edition = _load_edition(session)
    monkeypatch.setattr(renders, "HEAVY_PAPERS", 2)
    monkeypatch.setattr(renders, "heavy_renders", RenderGate(1))
    kept = client.get(edition)
    assert kept.status_code == 200
    holder = _hold(renders_gate(), "another page", 2 * renders.SLOT_WAIT + 1.0)  # two waits
    try:
        assert client.get(edition).content == kept.content  # kept: no slot needed
        refused = client.get(f"{edition}?show=1")
        assert refused.status_code == 503 and refused.headers["retry-after"] == str(renders.RETRY_AFTER)
        assert client.get(f"{edition}?sort=popular").status_code == 503
    finally:
        holder.join()
    assert client.get(f"{edition}?sort=popular").status_code == 200


def test_every_page_that_renders_rows_waits_for_a_page_thread(
    settings_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every page thread held by a listing, the index, the status page, both searches, their feed,
    an edition, the venues' feed, the API's day and edition and a stored paper's page wait (they are
    page handlers too); /healthz does not; all are served once the listings end."""
    with session_scope(settings_env) as session:
        ingest_feed(session, feed=parse_feed(RSS2.read_bytes()))
        edition = _load_edition(session)
    release, started = _hold_cs_lg_renders(monkeypatch)
    holding = [f"{DAY}&show={n}" for n in range(1, renders.PAGE_THREADS + 1)]
    waiting = ["/", "/status", "/arxiv/search?query=learning", "/arxiv/search/feed?query=learning",
               "/venue/search?query=story", edition, "/venue/latest/feed",
               "/api/v1/listings/cs.AI?date=2026-09-24", f"/api/v1/venues/{edition.rsplit('/', 1)[1].replace('.', '/')}",
               "/arxiv/2609.26811"]  # fmt: skip
    with (
        TestClient(create_app(), raise_server_exceptions=False) as client,
        ThreadPoolExecutor(len(holding) + len(waiting)) as readers,
    ):
        held_answers = [readers.submit(client.get, url) for url in holding]
        for _ in holding:
            assert started.acquire(timeout=10)
        try:
            answers = {url: readers.submit(client.get, url) for url in waiting}
            assert client.get("/healthz").status_code == 200
            time.sleep(0.5)
            assert [url for url, answer in answers.items() if answer.done()] == []
        finally:
            release.set()
        assert {url: answer.result().status_code for url, answer in answers.items()} == dict.fromkeys(
            waiting, 200
        )
        assert [answer.result().status_code for answer in held_answers] == [200] * len(holding)


def test_the_apis_big_day_and_edition_take_a_slot_like_the_pages(
    client: TestClient, loaded: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API's day reads all of it (its sections order it), an edition's page its `limit` papers:
    past HEAVY_PAPERS they wait for a slot, and past the wait get 503 + Retry-After in the API's own
    error shape; a kept answer is served without one."""
    edition = _load_edition(loaded).rsplit("/", 1)[1].replace(".", "/")
    monkeypatch.setattr(renders, "HEAVY_PAPERS", 2)
    monkeypatch.setattr(renders, "heavy_renders", RenderGate(1))
    day = "/api/v1/listings/cs.LG?date=2026-09-24"
    kept = client.get(day)
    assert kept.status_code == 200 and kept.json()["total"] == 3
    holder = _hold(renders_gate(), "another page", 2 * renders.SLOT_WAIT + 1.0)  # two waits
    try:
        assert client.get(day).content == kept.content
        refused = client.get(f"{day}&limit=1")
        assert refused.status_code == 503 and refused.headers["retry-after"] == str(renders.RETRY_AFTER)
        assert "try again in a moment" in refused.json()["detail"]
        assert client.get(f"/api/v1/venues/{edition}?limit=2").status_code == 200  # 2 papers: light
        assert client.get(f"/api/v1/venues/{edition}?limit=3").status_code == 503
    finally:
        holder.join()
    assert client.get(f"{day}&limit=1").status_code == 200
