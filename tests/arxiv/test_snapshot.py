"""The Kaggle arXiv metadata snapshot (JSON lines): parse_feed and parse_snapshot_line."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from app.arxiv.parse import parse_feed, parse_snapshot_line
from app.errors import FeedParseError

SNAPSHOT = Path(__file__).parents[1] / "data" / "snapshot" / "arxiv-metadata-oai-snapshot.head200.jsonl"
UTC = dt.UTC


def test_parse_snapshot_reads_versions_dates_and_authors() -> None:
    feed = parse_feed(SNAPSHOT.read_bytes())
    first, second = feed.entries[:2]
    assert (
        first.title == "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    )
    assert (first.doi, first.journal_ref) == ("10.1103/PhysRevD.76.013009", "Phys.Rev.D76:013009,2007")
    assert first.published_at == dt.datetime(2007, 4, 2, 19, 18, 42, tzinfo=UTC)
    assert first.updated_at == dt.datetime(2008, 11, 26, tzinfo=UTC)
    assert first.authors == ("C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C. -P. Yuan")
    assert second.authors == ("Ileana Streinu", "Louis Theran")
    assert second.license == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"
    by_id = {e.arxiv_id: e for e in feed.entries}
    assert "Neal J. Evans II" in by_id["0704.0009"].authors
    assert by_id["0704.0003"].version == 3


def test_parse_snapshot_decodes_tex_in_titles_outside_math() -> None:
    by_id = {e.arxiv_id: e for e in parse_feed(SNAPSHOT.read_bytes()).entries}
    assert by_id["0704.0019"].title.endswith("based on the Gröbner basis")
    assert by_id["0704.0073"].title == "A transcendental approach to Kollár's injectivity theorem"
    assert by_id["0704.0005"].title == "From dyadic $\\Lambda_{\\alpha}$ to $\\Lambda_{\\alpha}$"


def test_parse_snapshot_line_falls_back_to_author_string() -> None:
    line = next(raw for raw in SNAPSHOT.read_bytes().splitlines() if b"Mishchenko" in raw)
    record = json.loads(line)
    del record["authors_parsed"]
    entry = parse_snapshot_line(json.dumps(record))
    assert entry.authors == ("A. S. Mishchenko", "N. Nagaosa")
    assert parse_snapshot_line(line).authors == entry.authors


@pytest.mark.parametrize(
    "line",
    [
        "",
        "not json",
        "[1, 2]",
        '{"foo": 1}',
        '{"id": "abc", "title": "x"}',
        '{"id": 7, "title": "x"}',
        b"\xff\xfe",
    ],
)
def test_parse_snapshot_line_rejects_non_records(line: str | bytes) -> None:
    with pytest.raises(FeedParseError):
        parse_snapshot_line(line)


def test_parse_snapshot_skips_a_record_with_a_bad_id() -> None:
    lines = SNAPSHOT.read_bytes().splitlines()[:3]
    record = json.loads(lines[1])
    record["id"] = "not-an-id"
    feed = parse_feed(b"\n".join([lines[0], json.dumps(record).encode(), lines[2]]))
    assert [e.arxiv_id for e in feed.entries] == ["0704.0001", "0704.0003"]


def test_parse_snapshot_all_bad_ids_is_an_error() -> None:
    with pytest.raises(FeedParseError, match="none of the 2 snapshot lines"):
        parse_feed(b'{"id": "x", "title": "a"}\n{"id": "y", "title": "b"}\n')


def test_parse_snapshot_line_uses_version_in_id() -> None:
    entry = parse_snapshot_line('{"id": "hep-th/9901001v4", "title": "T", "versions": [{"version": "v1"}]}')
    assert (entry.arxiv_id, entry.version, entry.authors, entry.categories) == ("hep-th/9901001", 4, (), ())
