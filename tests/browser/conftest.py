"""The real app in a real browser: uvicorn serving a fresh committed database, Debian's Chromium.

Package-scoped (everything here is torn down when the run leaves tests/browser, so Playwright's event
loop never outlives these tests):
- `site`: a migrated database (SQLite, or PostgreSQL under TEST_DATABASE_URL) holding the bundled
  samples and a generated cs.LG day (real abstracts under new ids, four astronomy papers among them,
  one of them with math) plus one hostile cs.CR paper; `coolpapers embed` runs the real model on it in
  the background (the "for you" test waits for it); `uvicorn app.main:app` on a free loopback port with
  the language model a FakeLLMServer (streamed answers, hostile ones for the hostile paper) and arXiv
  the session's offline replay.
- `browser`: Chromium through Playwright (`/usr/bin/chromium`, never a downloaded browser).
- `page`: a fresh context (empty localStorage) whose console errors, uncaught exceptions, dialogs,
  Content-Security-Policy violations and requests leaving loopback fail the test.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.arxiv.parse import parse_feed
from app.arxiv.types import Feed, FeedEntry
from app.cli import SAMPLES
from app.config import Settings
from app.store.db import session_scope
from app.store.ingest import ingest_feed, ingest_file
from tests.arxiv_api import ArxivApiServer
from tests.conftest import DATA, _fresh_database
from tests.llm_server import FakeLLMServer, Messages, default_answer

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "browser"
LAUNCH_ARGS = [
    "--no-sandbox",  # the tests may run as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

DAY = dt.date(2026, 11, 10)
CATEGORY = "cs.LG"
LISTING = f"/arxiv/{CATEGORY}?date={DAY.isoformat()}"
HOSTILE_CATEGORY = "cs.CR"
HOSTILE_LISTING = f"/arxiv/{HOSTILE_CATEGORY}?date={DAY.isoformat()}"
HOSTILE_ID = "2611.00999"
HOSTILE_TITLE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
HOSTILE_ABSTRACT = (
    "We study markup in metadata. $\\href{javascript:alert(1)}{x}$ and "
    '<img src=x onerror="window.__pwned=3"> and <a href="javascript:window.__pwned=4">a link</a>.'
)
# What the model answers for the hostile paper: raw HTML, script, javascript: links (Markdown and TeX).
HOSTILE_ANSWER = (
    '<script>window.__pwned=5</script> <img src=x onerror="window.__pwned=6"> '
    '[click me](javascript:window.__pwned=7) <a href="javascript:window.__pwned=8">raw link</a> '
    "$\\href{javascript:window.__pwned=9}{math link}$ "
    '<iframe src="javascript:window.__pwned=10"></iframe> done.'
)

# Four astronomy papers among machine-learning ones: stars on two of them must pull the other two up.
ASTRO = (
    (
        "Spectroscopic survey of dwarf galaxies at redshift $z > 6$ with the James Webb Space Telescope",
        "We present near-infrared spectra of faint dwarf galaxies in the early universe observed with "
        "the James Webb Space Telescope. Emission lines constrain star formation rates, gas-phase "
        "metallicities and the escape of ionising photons during cosmic reionisation, in tension with "
        "$\\Lambda$CDM predictions of the abundance of bright galaxies at $z \\approx 7$.",
    ),
    (
        "Dark matter halo profiles of galaxy clusters from weak gravitational lensing",
        "We measure the weak gravitational lensing shear of background galaxies around massive galaxy "
        "clusters in a wide-field imaging survey. Stacked density profiles of the dark matter haloes "
        "agree with Navarro-Frenk-White profiles, and the concentration-mass relation of the clusters "
        "is consistent with cosmological simulations.",
    ),
    (
        "Type Ia supernova light curves and the expansion history of the universe",
        "Using light curves of several hundred type Ia supernovae observed by ground-based telescopes, "
        "we fit the luminosity distance as a function of redshift and constrain the equation of state "
        "of dark energy. Calibration of the standard candles with Cepheid variable stars in nearby "
        "galaxies yields a Hubble constant in tension with the cosmic microwave background.",
    ),
    (
        "Stellar populations and star formation histories of spiral galaxies in the Virgo cluster",
        "Integral-field spectroscopy of spiral galaxies in the Virgo cluster reveals how ram-pressure "
        "stripping by the hot intracluster gas quenches star formation. Stellar ages and metallicities "
        "across the galactic discs trace the infall history of each galaxy into the cluster.",
    ),
)
ASTRO_IDS = tuple(f"2611.0010{i}" for i in range(1, len(ASTRO) + 1))
GENERATED = 41  # real papers of the API sample, re-issued under new ids (> 40: math rendered lazily)
PAPERS_ON_DAY = GENERATED + len(ASTRO)
EMBED_TIMEOUT = 240.0


@dataclass
class Site:
    """The app under test: its URL, what it holds, the model behind it, the background embedding."""

    url: str
    llm: FakeLLMServer
    log: Path
    embedding: subprocess.Popen[bytes]
    embed_log: Path
    day_ids: list[str] = field(default_factory=list)  # the cs.LG day, arXiv order

    def wait_embedded(self, timeout: float = EMBED_TIMEOUT) -> None:
        """Block until `coolpapers embed` has stored every vector (it started with the site)."""
        try:
            code = self.embedding.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"coolpapers embed did not finish in {timeout:.0f} s")
        assert code == 0, f"coolpapers embed failed ({code}):\n{self.embed_log.read_text()[-3000:]}"

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def _answer(messages: Messages) -> str:
    """Hostile Markdown for the hostile paper, the default deterministic answer for any other."""
    if any("__pwned" in str(message.get("content")) for message in messages):
        if "translated title on the first line" in str(messages[0].get("content")):
            return f"{HOSTILE_ANSWER}\n\n{HOSTILE_ANSWER}"  # a translation: a title, then its abstract
        return HOSTILE_ANSWER
    return default_answer(messages)


def _generated_day() -> Feed:
    """Real API entries re-issued as a cs.LG day, the astronomy papers spread through it."""
    sample = parse_feed((DATA / "api" / "api-2025-cs-100-entries.xml").read_bytes()).entries[:GENERATED]
    kinds = ["new"] * 25 + ["cross"] * 10 + ["replace"] * 6
    real = [
        dataclasses.replace(
            entry,
            arxiv_id=f"2611.{index:05d}",
            version=2 if kind == "replace" else 1,
            announce_type=kind,
            primary_category=CATEGORY if kind != "cross" else entry.primary_category,
            categories=tuple(dict.fromkeys((CATEGORY, *entry.categories))),
        )
        for index, (entry, kind) in enumerate(zip(sample, kinds, strict=True), start=1)
    ]
    published = dt.datetime.combine(DAY, dt.time(), dt.UTC) - dt.timedelta(days=1)
    astro = [
        FeedEntry(
            arxiv_id=arxiv_id,
            version=1,
            title=title,
            abstract=abstract,
            authors=("Vera Rubin", "Edwin Hubble", "Henrietta Leavitt"),
            primary_category=CATEGORY,
            categories=(CATEGORY, "astro-ph.GA"),
            announce_type="new",
            published_at=published,
        )
        for arxiv_id, (title, abstract) in zip(ASTRO_IDS, ASTRO, strict=True)
    ]
    entries = list(real)
    for offset, paper in zip((4, 9, 13, 16), astro, strict=True):  # among the new submissions
        entries.insert(offset, paper)
    return Feed(
        kind="rss2", title="generated", entries=tuple(entries), announced_on=DAY, categories=(CATEGORY,)
    )


def _hostile_day() -> Feed:
    paper = FeedEntry(
        arxiv_id=HOSTILE_ID,
        version=1,
        title=HOSTILE_TITLE,
        abstract=HOSTILE_ABSTRACT,
        authors=('<a href="javascript:window.__pwned=11">Eve</a>', "Mallory"),
        primary_category=HOSTILE_CATEGORY,
        categories=(HOSTILE_CATEGORY,),
        announce_type="new",
        comments="<script>window.__pwned=12</script> code at javascript:alert(1)",
    )
    return Feed(
        kind="rss2", title="hostile", entries=(paper,), announced_on=DAY, categories=(HOSTILE_CATEGORY,)
    )


def _load(settings: Settings) -> list[str]:
    """The bundled samples (what `coolpapers demo --no-embed` loads), the generated day, the hostile one."""
    for path in sorted(SAMPLES.glob("*.xml")):
        ingest_file(settings, path=path, category=None, day=None)
    day = _generated_day()
    with session_scope(settings) as session:
        ingest_feed(session, feed=day)
        ingest_feed(session, feed=_hostile_day())
    return [entry.arxiv_id for entry in day.entries]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"uvicorn exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"uvicorn did not answer /healthz in 60 s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="package")
def site(tmp_path_factory: pytest.TempPathFactory, offline_arxiv: ArxivApiServer) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("browser")
    database = _fresh_database(folder)
    data_dir = folder / "data"
    _load(Settings(database_url=database, data_dir=data_dir))
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("REDIS_URL", "LLM_API_KEY", "ADMIN_TOKEN", "LLM_PROMPT_FILE", "EMBED_MODEL")
    }
    env |= {"DATABASE_URL": database, "DATA_DIR": str(data_dir), "ARXIV_API_URL": offline_arxiv.url}
    env |= {"ARXIV_MIN_INTERVAL": "0", "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
    bin_dir = Path(sys.executable).parent
    embed_log = folder / "embed.log"
    with embed_log.open("wb") as out:  # the real model, in the background: only "for you" waits for it
        embedding = subprocess.Popen(
            [str(bin_dir / "coolpapers"), "embed"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    llm = FakeLLMServer(answer=_answer, chunk_delay=0.05).start()
    env |= {"LLM_BASE_URL": llm.base_url, "LLM_MODEL": "fake-llm", "LLM_RETRIES": "0"}
    env |= {"SUMMARY_FULL_TEXT": "false"}
    env |= {"OWN_KEY_ALLOW_LOOPBACK": "true"}  # a reader's own model on a loopback port (test_ask.py)
    log = folder / "uvicorn.log"
    try:
        with serve_app(env, log) as url:
            yield Site(url, llm, log, embedding, embed_log, _load_ids(url))
    finally:
        _stop(embedding)
        llm.close()


@contextmanager
def serve_app(env: dict[str, str], log: Path) -> Iterator[str]:
    """uvicorn serving the app on a free loopback port with `env`, its output in `log`; its URL."""
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*command, "--no-access-log"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, server, log)
        yield url
    finally:
        _stop(server)


def _load_ids(url: str) -> list[str]:
    """The day as the server lists it (arXiv order: new, cross, replace)."""
    body = httpx.get(
        f"{url}/api/v1/listings/{CATEGORY}", params={"date": DAY.isoformat(), "limit": 500}
    ).json()
    ids = [item["arxiv_id"] for item in body["items"]]
    assert len(ids) == PAPERS_ON_DAY, body
    return ids


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


# Listened for from the first script of every document and sent to the test at once (a later
# navigation cannot lose it): a violation is an event even where Chromium logs nothing.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => window.__reportCspViolation(
  `${e.violatedDirective} blocked ${e.blockedURI || e.sample} (${e.sourceFile}:${e.lineNumber})`
));
"""


@dataclass
class Watched:
    """A page and what went wrong on it."""

    page: Any
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def watched(browser: Any, site: Site) -> Iterator[Watched]:
    """A page in a fresh context on the shared site (see `watching`)."""
    with watching(browser, site.url) as seen:
        yield seen


@contextmanager
def watching(browser: Any, base_url: str, *, width: int = 1280, height: int = 900) -> Iterator[Watched]:
    """A page in a fresh context; console errors, CSP violations, uncaught exceptions, dialogs and
    requests to anywhere but `base_url` fail the test when the block ends."""
    context = browser.new_context(
        base_url=base_url, viewport={"width": width, "height": height}, color_scheme="light"
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    seen = Watched(page)
    context.expose_function("__reportCspViolation", lambda text: seen.errors.append(f"CSP violation: {text}"))
    context.add_init_script(REPORT_CSP_VIOLATIONS)

    def on_console(message: Any) -> None:
        if message.type == "error":
            seen.errors.append(f"console: {message.text} ({message.location.get('url', '')})")

    def on_dialog(dialog: Any) -> None:
        seen.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_request(request: Any) -> None:
        seen.requests.append(request.url)
        if not request.url.startswith((base_url, "data:", "about:")):
            seen.errors.append(f"request left the app: {request.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.errors.append(f"uncaught: {error}"))
    page.on("dialog", on_dialog)
    page.on("request", on_request)
    try:
        yield seen
    finally:
        context.close()
    assert seen.dialogs == [], f"a dialog opened: {seen.dialogs}"
    assert seen.errors == [], "errors in the browser:\n" + "\n".join(seen.errors)


def screenshot(page: Any, name: str) -> Path:
    """Save what the page shows as test-artifacts/browser/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
