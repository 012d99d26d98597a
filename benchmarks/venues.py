"""Benchmark: a 3,000-paper venue edition parsed and stored, arXiv-venue linking, the edition's page.

1. Store: 3,000 records in the shape of the real COLM 2024 Paper Copilot list
   (tests/data/venues/openreview/derived/papercopilot-colm2024.first200.json: its 200 records repeated
   with new ids and titles) as one JSON document, parsed by `parse_venue_document` and stored by
   `upsert_venue_papers` in one transaction on a fresh migrated database; then stored again (the
   idempotent rerun). No network. Target: parse + store < 10 s, on SQLite and on PostgreSQL.
2. Linking: every recorded venue fixture is stored beside arXiv papers made from a known share of its
   records: twins (the same title, changed in case, a trailing period or $math$ markers; the
   same first author), decoys (the same title, another first author) and near misses (one title word
   changed, the same authors). Precision and recall of the stored links against that truth are
   printed. Target: precision >= 0.98.
3. Page: `/venue/COLM.2024` (3,000 papers) through the app in-process (TestClient): the kept page
   (20 warm-up, 200 measured), rendered each time (cache emptied, 10), and the 304 (50). Target: the
   listing page's, p99 < 30 ms for the kept page.

Run:
    .venv/bin/python benchmarks/venues.py                                   # SQLite
    tests/services.sh .venv/bin/python benchmarks/venues.py --postgres      # SQLite and PostgreSQL
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import harness  # noqa: E402
from sqlalchemy import select  # noqa: E402

from app.arxiv.types import FeedEntry  # noqa: E402
from app.config import get_settings  # noqa: E402
from app.store.db import session_scope  # noqa: E402
from app.store.models import Paper, VenueEntry  # noqa: E402
from app.store.papers import upsert_papers  # noqa: E402
from app.store.venues import upsert_venue_papers  # noqa: E402
from app.venues.documents import parse_venue_document, parse_venue_file  # noqa: E402
from app.venues.types import VenuePaper  # noqa: E402

VENUES = ROOT / "tests" / "data" / "venues"
SHAPE = VENUES / "openreview" / "derived" / "papercopilot-colm2024.first200.json"
SIZE = 3000
SKIPPED = {"README.md", "SOURCES.md", "PAPERS_COOL_VENUES.md", "cvpr2020-openaccess-listing.saved.html"}


def synthetic_edition(size: int) -> bytes:
    """`size` records in the real document's shape: its records repeated, ids and titles made unique."""
    records = json.loads(SHAPE.read_bytes())
    out = []
    for n in range(size):
        record = dict(records[n % len(records)])
        forum = f"{str(record.get('id', 'x'))[:5]}{n:05d}"  # the id is read from the forum URL
        record["id"], record["site"] = forum, f"https://openreview.net/forum?id={forum}"
        record["title"] = f"{record.get('title', '')} (part {n})"
        out.append(record)
    return json.dumps(out).encode()


def bench_store(url: str, document: bytes) -> dict[str, float]:
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    started = time.perf_counter()
    parsed = parse_venue_document(document, name="colm2024.json")
    parsed_at = time.perf_counter()
    with session_scope() as session:
        stats = upsert_venue_papers(session, papers=parsed.papers)
    stored_at = time.perf_counter()
    with session_scope() as session:
        again = upsert_venue_papers(session, papers=parsed.papers)
    rerun_at = time.perf_counter()
    assert stats.new == len(parsed.papers) == SIZE, (stats, len(parsed.papers))
    assert again.new == 0 and again.updated == 0, again
    return {"parse": parsed_at - started, "store": stored_at - parsed_at, "rerun": rerun_at - stored_at}


def fixtures() -> list[VenuePaper]:
    papers: list[VenuePaper] = []
    for path in sorted(VENUES.rglob("*")):
        if path.is_file() and path.suffix in (".xml", ".json", ".bib", ".html") and path.name not in SKIPPED:
            papers.extend(parse_venue_file(path).papers)
    return papers


def _variant(title: str, n: int) -> str:
    # arXiv's own spellings of a conference title (its parser collapses whitespace already).
    changes = (str.upper, lambda t: t + ".", str.title, lambda t: t.replace("$", ""))
    return changes[n % len(changes)](title)


def arxiv_counterparts(papers: list[VenuePaper]) -> tuple[list[FeedEntry], dict[str, str]]:
    """arXiv records made from the fixtures, and the true links: venue id -> arXiv id."""
    entries, truth = [], {}
    for n, paper in enumerate(papers):
        if not paper.authors or not paper.title:
            continue
        arxiv_id = f"2501.{n:05d}"
        if n % 3 == 0:  # a twin
            entries.append(_entry(arxiv_id, _variant(paper.title, n), paper.authors))
            truth[paper.paper_id] = arxiv_id
        elif n % 5 == 1:  # a decoy: the same title by someone else
            entries.append(_entry(arxiv_id, paper.title, ("Zed Nobody", *paper.authors[1:])))
        elif n % 7 == 2:  # a near miss: one word changed
            words = paper.title.split()
            entries.append(_entry(arxiv_id, " ".join([*words[:-1], "Revisited"]), paper.authors))
    return entries, truth


def _entry(arxiv_id: str, title: str, authors: tuple[str, ...]) -> FeedEntry:
    return FeedEntry(arxiv_id, 1, title, "An abstract.", authors, "cs.LG", ("cs.LG",))


def bench_linking(url: str) -> dict[str, float]:
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    papers = fixtures()
    entries, truth = arxiv_counterparts(papers)
    with session_scope() as session:
        upsert_papers(session, entries=entries)
    with session_scope() as session:
        for source in dict.fromkeys(p.paper_id.rsplit("@", 1)[1] for p in papers):
            upsert_venue_papers(session, papers=[p for p in papers if p.paper_id.endswith("@" + source)])
    with session_scope() as session:
        twin = Paper.__table__.alias("twin")
        rows = session.execute(
            select(Paper.arxiv_id, twin.c.arxiv_id)
            .join(VenueEntry, VenueEntry.paper_id == Paper.id)
            .join(twin, twin.c.id == VenueEntry.arxiv_paper_id)
        ).all()
    found = {str(venue): str(arxiv) for venue, arxiv in rows}
    right = sum(1 for venue, arxiv in found.items() if truth.get(venue) == arxiv)
    return {"venue papers": len({p.paper_id for p in papers}), "true links": len(truth),
            "links made": len(found), "precision": right / len(found) if found else 1.0,
            "recall": right / len(truth) if truth else 1.0}  # fmt: skip


def bench_page(url: str) -> dict[str, float]:
    from fastapi.testclient import TestClient

    from app.httpcache import kept_responses

    os.environ["DATABASE_URL"] = url
    os.environ["PAGE_FRESH_SECONDS"] = "0"
    get_settings.cache_clear()
    from app.main import create_app

    path = "/venue/COLM.2024"
    with tempfile.TemporaryDirectory() as data_dir, TestClient(create_app()) as client:
        os.environ["DATA_DIR"] = data_dir
        first = client.get(path, headers={"Accept-Encoding": "gzip"})
        assert first.status_code == 200 and first.text.count('class="paper"') == SIZE, first.status_code
        etag = first.headers["etag"]

        def timed(count: int, headers: dict[str, str], *, fresh: bool = False) -> list[float]:
            out = []
            for _ in range(count):
                if fresh:
                    kept_responses.cache_clear()
                started = time.perf_counter()
                response = client.get(path, headers=headers)
                out.append((time.perf_counter() - started) * 1000)
                assert response.status_code in (200, 304)
            return out

        timed(20, {"Accept-Encoding": "gzip"})
        kept = timed(200, {"Accept-Encoding": "gzip"})
        rendered = timed(10, {"Accept-Encoding": "gzip"}, fresh=True)
        not_modified = timed(50, {"If-None-Match": etag})
    return {"kept p50": harness.percentile(kept, 0.5), "kept p99": harness.percentile(kept, 0.99),
            "rendered p50": harness.percentile(rendered, 0.5), "rendered max": max(rendered),
            "304 p99": harness.percentile(not_modified, 0.99), "bytes (html)": len(first.content)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL (TEST_DATABASE_URL)")
    args = parser.parse_args()
    document = synthetic_edition(SIZE)
    for line in harness.machine_lines(harness.targets(None, require_postgres=args.postgres)):
        print(line)
    for target in harness.targets(None, require_postgres=args.postgres):
        with harness.fresh_database(target) as url:
            store = bench_store(url, document)
            page = bench_page(url)
        with harness.fresh_database(target) as url:
            linking = bench_linking(url)
        print(f"\n## {target.name}  ({harness.load_now()})")
        print(f"store {SIZE} papers: parse {store['parse']:.2f} s + store {store['store']:.2f} s = "
              f"{store['parse'] + store['store']:.2f} s (target < 10 s); idempotent rerun {store['rerun']:.2f} s")  # fmt: skip
        print("page /venue/COLM.2024 (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in page.items()))
        print("linking: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                      for k, v in linking.items()))  # fmt: skip


if __name__ == "__main__":
    main()
