"""Fuzzing `parse_feed`: recorded arXiv documents, mutated, must parse or raise FeedParseError.

Seeds are every recorded document (tests/data: RSS 2.0, Atom, RSS 1.0, API, OAI-PMH, the snapshot's
first lines, the arxiv.py recordings). Hypothesis applies one to four mutations to one of them: byte
flips, truncations, deletions, repeats of a slice, insertions of XML fragments (entities, DOCTYPEs,
CDATA, character references, BOMs, encodings declarations, arXiv-looking ids and titles), of huge
attributes, deep nesting or long text, and splices of two seeds. For every input:

- only `Feed` or `FeedParseError` comes out (the parse runs in a worker thread, so an exception
  of any class reaches the test, BaseException included);
- no hang: each parse must finish within EXAMPLE_TIMEOUT seconds (FUZZ_EXAMPLE_TIMEOUT, default 10:
  the slowest inputs take ~1 s alone, and a busy machine must not make the suite flaky);
- memory bounded: the traced peak of a parse stays under PEAK_LIMIT (measured with tracemalloc on
  one example in MEMORY_EVERY and on every input over 256 KB: tracing makes parsing ~13x slower).

The run is bounded by time, not by a count: FUZZ_SECONDS (default 20) of batches of BATCH examples,
at least one batch. The longer run of the same harness:

    FUZZ_SECONDS=900 .venv/bin/pytest tests/arxiv/test_parse_fuzz.py -q --timeout=0

and an atheris (libFuzzer) run over the same seeds and fragments: benchmarks/fuzz_parse.py.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import NoReturn

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.arxiv.parse import parse_feed
from app.arxiv.types import Feed
from app.errors import FeedParseError

DATA = Path(__file__).parents[1] / "data"
FUZZ_SECONDS = float(os.environ.get("FUZZ_SECONDS", "20"))
BATCH = 200
EXAMPLE_TIMEOUT = float(os.environ.get("FUZZ_EXAMPLE_TIMEOUT", "10"))
PEAK_LIMIT = 200 * 1024 * 1024
MEMORY_EVERY = 10
BIG_INPUT = 256 * 1024
# A failing input is written here (replay: benchmarks/fuzz_parse.py --replay FILE).
FINDINGS = Path(os.environ.get("FUZZ_FINDINGS", tempfile.gettempdir())) / "fuzz-parse-findings"


def load_seeds() -> list[bytes]:
    """Every recorded document, as arXiv sent it (see tests/arxiv/test_parse.py `load`)."""
    seeds = [p.read_bytes() for kind in ("rss", "api", "oai") for p in sorted((DATA / kind).glob("*.xml"))]
    snapshot = (DATA / "snapshot" / "arxiv-metadata-oai-snapshot.head200.jsonl").read_bytes()
    seeds.append(b"".join(snapshot.splitlines(keepends=True)[:20]))
    for path in sorted((DATA / "api" / "arxiv.py-recorded").glob("*.json")):
        seeds.append(json.loads(path.read_text(encoding="utf-8"))["body"].encode("latin-1"))
    return seeds


SEEDS = load_seeds()

FRAGMENTS: tuple[bytes, ...] = (
    b"<!ENTITY a 'b'>",
    b"<!DOCTYPE rss [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>",
    b'<!DOCTYPE feed PUBLIC "-//W3C//DTD XHTML 1.0//EN" "http://127.0.0.1:9/x.dtd">',
    b"&x;",
    b"&amp;",
    b"&lt;script&gt;",
    b"&#0;",
    b"&#x10FFFF;",
    b"&#xD800;",
    b"&#99999999999;",
    b"<![CDATA[",
    b"]]>",
    b"<![CDATA[<item><title>x</title></item>]]>",
    b"<?xml version='1.0' encoding='utf-16'?>",
    b"<?xml version='1.0' encoding='x-unknown'?>",
    b"<?xml-stylesheet href='http://127.0.0.1:9/s.xsl'?>",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\xfe\xff",
    b"\x00",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    b"<!-- -->",
    b"<!--",
    b"<arxiv:announce_type>bogus</arxiv:announce_type>",
    b"<pubDate>Mon, 99 Foo 2026 25:61:61 +9999</pubDate>",
    b"<published>9999-99-99T99:99:99Z</published>",
    b"<opensearch:totalResults>99999999999999999999999</opensearch:totalResults>",
    b"<resumptionToken completeListSize='-1'>",
    b"<dc:creator>A (B, C) and D, Jr., III</dc:creator>",
    b"<title>Title. (arXiv:1805.09166v1 [hep-ex] CROSS LISTED)</title>",
    b"$\\acute{e}$ \\'{e} {\\\"o} \\ss{} $$x$$",
    b"<a:b xmlns:a='urn:x'/>",
    b"<unbound:tag/>",
    b"<html><head><title>502 Bad Gateway</title></head></html>",
    b'{"id": "2401.00001", "title": "t", "authors_parsed": [[1, 2]], "versions": [{"version": "v9"}]}\n',
    b"{",
    b"\n",
    b"\r\n",
    b"\t" * 64,
)
# Pieces of arXiv documents: inserted many times over ("many" below) they make big valid feeds.
STRUCTURE: tuple[bytes, ...] = (
    b"<item>",
    b"</item>",
    b"<entry>",
    b"</entry>",
    b"<channel>",
    b"<item><title>t</title><guid>oai:arXiv.org:2401.00001v1</guid></item>",
    b"<entry><id>http://arxiv.org/abs/2401.00001v2</id><title>t</title></entry>",
    b"<guid>oai:arXiv.org:hep-th/9901001v3</guid>",
    b"arXiv:2401.00001v1 Announce Type: replace-cross \nAbstract: ",
)


@st.composite
def generated_fragment(draw: st.DrawFn) -> bytes:
    """Big or pathological pieces: built from a drawn size, so Hypothesis stays fast."""
    kind = draw(st.sampled_from(("attribute", "nesting", "text", "many", "binary", "chars")))
    if kind == "attribute":
        return b'<x a="' + b"A" * draw(st.integers(1_000, 2_000_000)) + b'"/>'
    if kind == "nesting":
        depth = draw(st.integers(10, 20_000))
        return b"<a>" * depth + b"</a>" * depth
    if kind == "text":
        return draw(st.sampled_from((b"x", b" ", b"\xc3\xa9", b"&amp;", b"<b/>"))) * draw(
            st.integers(1_000, 500_000)
        )
    if kind == "many":
        return draw(st.sampled_from(STRUCTURE)) * draw(st.integers(2, 2_000))
    if kind == "binary":
        return draw(st.binary(max_size=64))
    return draw(st.text(max_size=32)).encode("utf-8", "surrogatepass")


fragments = st.one_of(st.sampled_from(FRAGMENTS + STRUCTURE), generated_fragment())
positions = st.integers(min_value=0, max_value=2**32)


@st.composite
def mutation(draw: st.DrawFn) -> Callable[[bytes], bytes]:
    op = draw(st.sampled_from(("flip", "truncate", "insert", "delete", "repeat", "splice")))
    a, b = draw(positions), draw(positions)
    if op == "flip":
        bit = 1 << draw(st.integers(0, 7))
        return lambda d: (
            d[: a % (len(d) or 1)] + bytes([d[a % len(d)] ^ bit]) + d[a % len(d) + 1 :] if d else d
        )
    if op == "truncate":
        return lambda d: d[: a % (len(d) + 1)]
    if op == "insert":
        piece = draw(fragments)
        return lambda d: d[: a % (len(d) + 1)] + piece + d[a % (len(d) + 1) :]
    if op == "delete":
        return lambda d: d[: a % (len(d) + 1)] + d[a % (len(d) + 1) + b % 4096 :]
    if op == "repeat":
        times = draw(st.integers(2, 200))
        return lambda d: (
            d[: a % (len(d) + 1)] + d[a % (len(d) + 1) :][: b % 512] * times + d[a % (len(d) + 1) :]
        )
    other = draw(st.sampled_from(SEEDS))
    return lambda d: d[: a % (len(d) + 1)] + other[b % (len(other) + 1) :]


@st.composite
def mutated_documents(draw: st.DrawFn) -> bytes:
    data = draw(st.sampled_from(SEEDS))
    for change in draw(st.lists(mutation(), min_size=1, max_size=4)):
        data = change(data)
    return data


class Harness:
    """Runs parse_feed in one worker thread with a timeout and, on some inputs, a memory trace."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fuzz-parse")
        self.examples = 0
        self.parsed = 0
        self.largest_peak = 0
        self.slowest = 0.0

    def check(self, data: bytes) -> None:
        self.examples += 1
        traced = self.examples % MEMORY_EVERY == 0 or len(data) > BIG_INPUT
        started = time.perf_counter()
        future = self.pool.submit(_parse_traced if traced else _parse, data)
        try:
            outcome, peak = future.result(timeout=EXAMPLE_TIMEOUT)
        except FutureTimeout:
            # The stuck thread cannot be stopped: later inputs get a fresh one.
            self.pool.shutdown(wait=False)
            self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fuzz-parse")
            self._fail(f"parse_feed hung (> {EXAMPLE_TIMEOUT} s)", data)
        self.slowest = max(self.slowest, time.perf_counter() - started)
        if isinstance(outcome, BaseException) and not isinstance(outcome, FeedParseError):
            self._fail(f"parse_feed raised {outcome!r}", data, outcome)
        assert isinstance(outcome, Feed | FeedParseError)
        if isinstance(outcome, FeedParseError):
            message = str(outcome)
            if "\n" in message or not 0 < len(message) <= 300:
                self._fail(f"not a one-line reason: {message!r}", data)
        else:
            self.parsed += 1
            if not all(entry.arxiv_id for entry in outcome.entries):
                self._fail("an entry without an arXiv id", data)
        self.largest_peak = max(self.largest_peak, peak)
        if peak >= PEAK_LIMIT:
            self._fail(f"parse_feed peaked at {peak / 2**20:.0f} MB", data)

    def _fail(self, what: str, data: bytes, cause: BaseException | None = None) -> NoReturn:
        """Keep the input (the last one written is Hypothesis's shrunk example) and fail."""
        FINDINGS.mkdir(parents=True, exist_ok=True)
        saved = FINDINGS / "last-failure.bin"
        saved.write_bytes(data)
        raise AssertionError(f"{what} on {_show(data)}; saved in {saved}") from cause

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _parse(data: bytes) -> tuple[Feed | BaseException, int]:
    try:
        return parse_feed(data), 0
    except BaseException as exc:  # handed to the test thread, which judges it
        return exc, 0


def _parse_traced(data: bytes) -> tuple[Feed | BaseException, int]:
    tracemalloc.start()
    try:
        outcome, _ = _parse(data)
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _show(data: bytes) -> str:
    return f"{len(data):,} bytes: {data[:200]!r}{'...' if len(data) > 200 else ''}"


@pytest.fixture
def harness() -> Iterator[Harness]:
    runner = Harness()
    yield runner
    runner.close()


# Hypothesis warns (an error here) before printing a failing input of megabytes: the harness's own
# message shows its head and where the whole input was saved.
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
def test_parse_feed_mutated_seeds_parse_or_raise_the_parse_error(harness: Harness) -> None:
    @settings(
        max_examples=BATCH,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(mutated_documents())
    def batch(data: bytes) -> None:
        harness.check(data)

    deadline = time.monotonic() + FUZZ_SECONDS
    batch()
    while time.monotonic() < deadline:
        batch()
    assert harness.parsed > 0  # mutations that keep a document valid are exercised too
    print(
        f"\n{harness.examples} inputs, {harness.parsed} parsed; slowest {harness.slowest * 1000:.0f} ms, "
        f"largest traced peak {harness.largest_peak / 2**20:.1f} MB"
    )


def _rss1(title: bytes) -> bytes:
    return (
        b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        b'xmlns="http://purl.org/rss/1.0/"><channel><title>hep-ex updates on arXiv.org</title></channel>'
        b'<item rdf:about="http://arxiv.org/abs/1805.09166"><title>' + title + b"</title></item></rdf:RDF>"
    )


def _rss2(creator: bytes) -> bytes:
    return (
        b'<?xml version="1.0"?><rss xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0"><channel>'
        b"<title>cs.LG updates on arXiv.org</title><item><guid>oai:arXiv.org:2401.00001v1</guid>"
        b"<dc:creator>" + creator + b"</dc:creator></item></channel></rss>"
    )


def _seconds_to_parse(data: bytes) -> float:
    started = time.perf_counter()
    assert len(parse_feed(data).entries) == 1
    return time.perf_counter() - started


# Found by this harness: both were quadratic in the input, so a hostile feed of a megabyte hung a
# worker for hours. At these sizes the quadratic versions took tens of seconds; linear ones take
# milliseconds, so the bound is far from both (a guard against a hang, not a timing).
LINEAR_BOUND_S = 2.0


def test_rss1_title_with_many_arxiv_markers_is_linear() -> None:
    assert _seconds_to_parse(_rss1(b"(arXiv:" * 40_000)) < LINEAR_BOUND_S


def test_deeply_nested_parentheses_in_authors_are_linear() -> None:
    assert _seconds_to_parse(_rss2(b"A " + b"(" * 60_000 + b"x" + b")" * 60_000)) < LINEAR_BOUND_S


def test_harness_reports_a_hang_and_a_foreign_exception(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    release = threading.Event()

    def stuck(data: bytes) -> Feed:
        release.wait(EXAMPLE_TIMEOUT + 5)
        raise KeyError("not the parse error")

    monkeypatch.setattr(f"{__name__}.parse_feed", stuck)
    monkeypatch.setattr(f"{__name__}.EXAMPLE_TIMEOUT", 0.2)
    monkeypatch.setattr(f"{__name__}.FINDINGS", tmp_path)
    with pytest.raises(AssertionError, match="hung"):
        harness.check(b"<rss/>")
    assert (tmp_path / "last-failure.bin").read_bytes() == b"<rss/>"
    release.set()
    with pytest.raises(AssertionError, match="KeyError"):
        harness.check(b"<rss/>")
