"""Real arXiv abstracts for the semantic benchmarks (embed.py, search.py, quality.py).

Not a benchmark itself. Every paper recorded under tests/data (API feeds, the arxiv.py recordings,
the Kaggle snapshot head, OAI-PMH pages: ~400 papers) plus, when present, the 2,060 cs.DS entries of
../shared/fixtures/arxiv/bench (`--extra`). Papers are de-duplicated by arXiv id, first source wins.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.arxiv.parse import parse_feed
from app.arxiv.types import FeedEntry
from app.config import Settings
from app.errors import FeedParseError
from app.search.embed import choose_backend, get_embedder, paper_text
from app.search.embedder import BUNDLED_MODEL
from app.search.onnx_embed import EXPORT_VERSION

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
CACHE = Path.home() / ".cache" / "coolpapers-bench"
DEFAULT_EXTRA = ROOT.parent / "shared" / "fixtures" / "arxiv" / "bench" / "api-entries-csDS-2060.xml"
_ATOM = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True, slots=True)
class Paper:
    source: str  # which file group it came from: api, recorded, snapshot, oai, csDS
    arxiv_id: str
    title: str
    abstract: str
    primary: str  # primary category ("" when unknown)
    authors: tuple[str, ...]

    @property
    def text(self) -> str:
        return paper_text(self.title, self.abstract)


def optional_path(value: str) -> Path | None:
    """argparse type of `--extra`: an empty value means none."""
    return Path(value) if value else None


def default_extra() -> Path | None:
    """The shared cs.DS bench file when this checkout sits beside ../shared, else None."""
    return DEFAULT_EXTRA if DEFAULT_EXTRA.exists() else None


def add_extra_argument(parser: argparse.ArgumentParser) -> None:
    """`--extra`: the real papers beyond the repository's (the shared cs.DS file by default)."""
    parser.add_argument(
        "--extra", type=optional_path, default=default_extra(), help="cs.DS bench file ('': none)"
    )


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: the machine is shared, figures move with them."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def context_lines() -> list[str]:
    """Machine, Python and load, one `name: value` line each, printed above every table."""
    model = next(
        (line.partition(":")[2].strip() for line in _cpuinfo() if line.startswith("model name")), "unknown"
    )
    return [
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs ({model})",
        f"python: {platform.python_version()}",
        f"load average (1, 5, 15 min): {load_average()}",
    ]


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def load_papers(extra: Path | None) -> list[Paper]:
    """All real papers with a title and an abstract, de-duplicated by arXiv id."""
    seen: set[str] = set()
    papers: list[Paper] = []
    for source, entries in _sources(extra):
        for entry in entries:
            if entry.arxiv_id in seen or not entry.title or not entry.abstract:
                continue
            seen.add(entry.arxiv_id)
            primary = entry.primary_category or (entry.categories[0] if entry.categories else "")
            papers.append(Paper(source, entry.arxiv_id, entry.title, entry.abstract, primary, entry.authors))
    return papers


def _sources(extra: Path | None) -> Iterator[tuple[str, tuple[FeedEntry, ...]]]:
    for path in sorted((DATA / "api").glob("*.xml")):
        yield "api", parse_feed(path.read_bytes()).entries
    for path in sorted((DATA / "api" / "arxiv.py-recorded").glob("*.json")):
        yield "recorded", _recorded_entries(path)
    for path in sorted((DATA / "snapshot").glob("*.jsonl")):
        yield "snapshot", parse_feed(path.read_bytes()).entries
    for path in sorted((DATA / "oai").glob("*.xml")):
        yield "oai", parse_feed(path.read_bytes()).entries
    if extra is not None:
        yield "csDS", parse_feed(wrap_entries(extra.read_bytes())).entries


def _recorded_entries(path: Path) -> tuple[FeedEntry, ...]:
    """An arxiv.py recording: its body was saved as UTF-8 misread as Latin-1."""
    record = json.loads(path.read_text())
    if record.get("status_code") != 200:
        return ()
    try:
        return parse_feed(record["body"].encode("latin-1")).entries
    except FeedParseError:  # a recorded API error page: no papers in it, by design of the recording
        return ()


def wrap_entries(data: bytes) -> bytes:
    """The bench file's `<articles>` of `<entry>` elements as an arXiv API feed parse_feed reads.

    Only the file's first entry declares the Atom namespace; un-namespaced elements are moved into it.
    """
    articles = ET.fromstring(data)
    feed = ET.Element(f"{{{_ATOM}}}feed")
    ET.SubElement(feed, f"{{{_ATOM}}}id").text = "http://arxiv.org/api/bench"
    ET.SubElement(feed, f"{{{_ATOM}}}title").text = "bench entries"
    for entry in articles:
        for element in entry.iter():
            if not element.tag.startswith("{"):
                element.tag = f"{{{_ATOM}}}{element.tag}"
        if entry.tag == f"{{{_ATOM}}}entry":
            feed.append(entry)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def embed_texts(texts: list[str], *, cache: Path | None, reuse: bool = True) -> tuple[np.ndarray, str]:
    """The app's embedder (bundled model, its default backend: get_embedder) on `texts`, and where
    the vectors came from.

    With `cache`, vectors are saved in a .npy file named by a hash of the model, backend and texts,
    and read from it next time when `reuse`. The ONNX graph (when that is the backend) is exported
    under `cache` (or a temporary folder).
    """
    folder = cache if cache is not None else Path(tempfile.gettempdir()) / "coolpapers-bench"
    settings = Settings(_env_file=None, data_dir=folder)  # type: ignore[call-arg]
    backend = choose_backend(settings.embed_backend, model=BUNDLED_MODEL, device="cpu", dtype="auto")
    path_of = f"onnx-int8 (recipe {EXPORT_VERSION})" if backend == "onnx" else f"torch-{cpu_dtype()}"
    key = hashlib.sha256("\x00".join([BUNDLED_MODEL, path_of, *texts]).encode()).hexdigest()[:16]
    path = cache / f"vectors-{key}.npy" if cache is not None else None
    if reuse and path is not None and path.exists():
        return np.load(path), f"cached in {path} ({path_of})"
    embedder = get_embedder(settings)
    embedder.embed(texts[:2])  # load (and export) outside the timing
    started = time.perf_counter()
    vectors = embedder.embed(texts)
    took = f"embedded now ({len(texts) / (time.perf_counter() - started):.1f} abstracts/s, {path_of})"
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return vectors, took


def cpu_dtype() -> str:
    from app.search.torch_embed import choose_dtype

    return choose_dtype("auto", "cpu")
