"""`coolpapers backfill`: the snapshot file and OAI-PMH, on a real committed database (SQLite or PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import fnmatch
import gzip
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import func, select
from typer.testing import CliRunner

from app.arxiv.parse import parse_feed
from app.arxiv.snapshot import parse_snapshot_line
from app.arxiv.types import PAPER_FIELDS, FeedEntry
from app.cli import cli
from app.config import Settings, get_settings
from app.store import backfill as bf
from app.store.backfill import write
from app.store.db import session_scope
from app.store.models import BackfillState, Embedding, Paper
from app.store.papers import as_utc
from tests.conftest import DATA
from tests.fakes import FakeEmbedder
from tests.loopback import LoopbackServer, Reply

SAMPLE = DATA / "snapshot" / "arxiv-metadata-oai-snapshot.head200.jsonl"
LINES = SAMPLE.read_bytes().splitlines(keepends=True)
ENTRIES = [parse_snapshot_line(line) for line in LINES]
OAI = (DATA / "oai" / "oai-listrecords-arXiv-cs-2015.xml").read_text()
CLEAN = "backfill finished: 200 records read: 200 new, 0 updated, 0 unchanged, 0 filtered out, 0 skipped as malformed"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _keep_root_log_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI points the root logger at CliRunner's stream, closed after each invoke: undo that."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))


def _backfill(*args: str) -> Result:
    return runner.invoke(cli, ["backfill", *args])


def _stored(settings: Settings) -> dict[str, Paper]:
    with session_scope(settings) as session:
        return {p.arxiv_id: p for p in session.scalars(select(Paper))}


def _count(settings: Settings) -> int:
    with session_scope(settings) as session:
        return session.scalar(select(func.count()).select_from(Paper)) or 0


def _state(settings: Settings) -> BackfillState:
    with session_scope(settings) as session:
        return session.scalars(select(BackfillState)).one()


def _assert_stored_as_parsed(paper: Paper, entry: FeedEntry) -> None:
    # Every declared field: one added to the declaration is checked through COPY as well.
    for spec in PAPER_FIELDS:
        stored, parsed = getattr(paper, spec.name), getattr(entry, spec.name)
        if spec.stored.sql == "json":
            parsed = list(parsed)
        if spec.stored.sql == "timestamptz":
            stored = as_utc(stored)
        assert stored == parsed, spec.name


# --- the snapshot file ---------------------------------------------------------------------------


def test_backfill_snapshot_imports_the_real_sample_exactly(settings_env: Settings) -> None:
    result = _backfill("--snapshot", str(SAMPLE), "--batch", "64", "--no-embed")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == CLEAN
    assert result.stdout.splitlines()[1].startswith("this run: 200 records in ")
    stored = _stored(settings_env)
    assert len(stored) == 200
    for entry in ENTRIES:
        _assert_stored_as_parsed(stored[entry.arxiv_id], entry)
    first = stored["0704.0001"]  # two versions, authors_parsed with TeX accents decoded
    assert first.version == 2 and first.authors[0] == "C. Balázs"
    assert as_utc(first.published_at) == dt.datetime(2007, 4, 2, 19, 18, 42, tzinfo=dt.UTC)
    state = _state(settings_env)
    assert state.finished_at is not None and state.position == SAMPLE.stat().st_size and state.line == 200


def test_backfill_snapshot_is_remembered_and_reimport_changes_nothing(settings_env: Settings) -> None:
    assert _backfill("--snapshot", str(SAMPLE), "--no-embed").exit_code == 0
    before = {
        k: (p.id, p.version, p.title, p.authors, p.ingested_at) for k, p in _stored(settings_env).items()
    }
    again = _backfill("--snapshot", str(SAMPLE), "--no-embed")
    assert again.exit_code == 0
    assert again.stdout.startswith("backfill already finished on ")
    assert "nothing to do" in again.stdout
    redo = _backfill("--snapshot", str(SAMPLE), "--no-embed", "--restart")
    assert redo.exit_code == 0, redo.output
    assert redo.stdout.splitlines()[0] == (
        "backfill finished: 200 records read: 0 new, 0 updated, 200 unchanged, 0 filtered out, "
        "0 skipped as malformed"
    )
    after = {
        k: (p.id, p.version, p.title, p.authors, p.ingested_at) for k, p in _stored(settings_env).items()
    }
    assert after == before


@pytest.mark.parametrize(
    ("categories", "since"),
    [("cs.*,stat.ML", None), (None, "2009-01-01"), ("math.*", "2008-06-01"), ("q-bio.*", "2030-01-01")],
)
def test_backfill_snapshot_filters_by_category_and_date(
    settings_env: Settings, categories: str | None, since: str | None
) -> None:
    patterns = categories.split(",") if categories else ["*"]
    since_at = dt.datetime.fromisoformat(since).replace(tzinfo=dt.UTC) if since else None
    expected = {
        e.arxiv_id
        for e in ENTRIES
        if any(fnmatch.fnmatchcase(c, p) for c in e.categories for p in patterns)
        and (since_at is None or ((e.updated_at or e.published_at) or dt.datetime.min) >= since_at)
    }
    assert 0 < len(expected) < 200 or since == "2030-01-01"
    args = ["--snapshot", str(SAMPLE), "--no-embed", "--batch", "50"]
    args += ["--categories", categories] if categories else []
    args += ["--since", since] if since else []
    result = _backfill(*args)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        f"backfill finished: 200 records read: {len(expected)} new, 0 updated, 0 unchanged, "
        f"{200 - len(expected)} filtered out, 0 skipped as malformed"
    )
    assert set(_stored(settings_env)) == expected


BAD_LINES = {  # line number in the file -> (line, reason)
    3: (b'{"id": "0704.9999", "title": "cut off", "abstr\n', "broken_json"),
    10: (b'{"title": "no id at all", "abstract": "x", "categories": "cs.LG"}\n', "missing_fields"),
    20: (b'{"id": "not/an-id", "title": "t", "abstract": "a", "categories": "cs.LG"}\n', "bad_id"),
    30: (b"[1, 2, 3]\n", "missing_fields"),
    150: (b"\xff\xfe not utf-8\n", "broken_json"),
    180: (LINES[4], "duplicate_id"),  # 0704.0005 again, after the interruption of the resume test
}
HUGE_AT = 160  # a real record with a 10 MB abstract


def _malformed_snapshot(folder: Path) -> Path:
    """The 200 real lines with BAD_LINES, a blank line and a 10 MB record put in between."""
    huge = json.loads(LINES[7])
    huge["id"], huge["abstract"] = "0704.9998", "lorem ipsum " * 900_000
    extra = {**{n: line for n, (line, _) in BAD_LINES.items()}, HUGE_AT: json.dumps(huge).encode() + b"\n"}
    extra[170] = b"   \n"
    out: list[bytes] = []
    real = iter(LINES)
    while len(out) < len(LINES) + len(extra):
        out.append(extra.get(len(out) + 1) or next(real))
    path = folder / "arxiv-metadata-oai-snapshot.json"
    path.write_bytes(b"".join(out))
    return path


MALFORMED_SUMMARY = (
    "backfill finished: 207 records read: 200 new, 0 updated, 0 unchanged, 0 filtered out, "
    "7 skipped as malformed"
)
MALFORMED_REASONS = [
    "  skipped (broken_json): 2",
    "  skipped (missing_fields): 2",
    "  skipped (bad_id): 1",
    "  skipped (duplicate_id): 1",
    "  skipped (too_large): 1",
]


def test_backfill_snapshot_counts_logs_and_skips_malformed_records(
    settings_env: Settings, tmp_path: Path
) -> None:
    path = _malformed_snapshot(tmp_path)
    result = _backfill("--snapshot", str(path), "--no-embed", "--batch", "40")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:6] == [MALFORMED_SUMMARY, *MALFORMED_REASONS]
    logged = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    skipped = {(r["line"], r["reason"]) for r in logged if r["msg"].startswith("snapshot line")}
    assert skipped == {(n, reason) for n, (_, reason) in BAD_LINES.items()} | {(HUGE_AT, "too_large")}
    stored = _stored(settings_env)
    assert set(stored) == {e.arxiv_id for e in ENTRIES}
    _assert_stored_as_parsed(stored["0704.0005"], ENTRIES[4])


def test_backfill_snapshot_reads_gzip(settings_env: Settings, tmp_path: Path) -> None:
    path = tmp_path / "arxiv-metadata-oai-snapshot.json.gz"
    path.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    result = _backfill("--snapshot", str(path), "--no-embed", "--batch", "70")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == CLEAN
    assert set(_stored(settings_env)) == {e.arxiv_id for e in ENTRIES}


class _Stop(Exception):
    """Stands in for a crash half-way through an import."""


@pytest.mark.parametrize("kept", [bf.progress.SKIPPED_LINES_KEPT, 0], ids=["fast-replay", "full-replay"])
@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_backfill_snapshot_resumes_after_an_interruption(
    settings_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kept: int, compressed: bool
) -> None:
    # kept=0: no malformed line number is remembered, so the rerun re-reads the done lines in full.
    monkeypatch.setattr("app.store.backfill.snapshot.SKIPPED_LINES_KEPT", kept)
    path = _malformed_snapshot(tmp_path)
    if compressed:
        plain, path = path, tmp_path / "arxiv-metadata-oai-snapshot.json.gz"
        path.write_bytes(gzip.compress(plain.read_bytes()))
    batches: list[bf.BatchDone] = []

    def crash_on_second(done: bf.BatchDone) -> None:
        batches.append(done)
        if len(batches) == 2:
            raise _Stop

    options = bf.SnapshotOptions(path=path, batch=30)
    with pytest.raises(_Stop):
        bf.import_snapshot(settings_env, options, on_batch=crash_on_second)
    state = _state(settings_env)
    assert state.finished_at is None and state.counts["new"] >= 60  # a batch in flight may have ended too
    assert _count(settings_env) == state.counts["new"] < 200
    assert state.line < 180  # the duplicate of 0704.0005 is still ahead

    result = _backfill("--snapshot", str(path), "--no-embed", "--batch", "30")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:6] == [MALFORMED_SUMMARY, *MALFORMED_REASONS]
    assert "continuing an interrupted run" in result.stdout
    assert _count(settings_env) == 200


def test_backfill_snapshot_batch_that_fails_is_rolled_back_and_redone(
    settings_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_store = write.store_batch

    def failing_third(session: Any, *, entries: Any) -> write.BatchStats:
        stats = real_store(session, entries=entries)  # written, then the commit never comes
        if entries and entries[0] == ENTRIES[100]:  # the third batch of 50
            raise KeyboardInterrupt  # as a Ctrl-C in the middle of a batch
        return stats

    monkeypatch.setattr(write, "store_batch", failing_third)
    stopped = _backfill("--snapshot", str(SAMPLE), "--no-embed", "--batch", "50")
    assert stopped.exit_code == 130
    assert "run the same command to go on" in stopped.stderr
    assert _count(settings_env) == 100 and _state(settings_env).line == 100

    monkeypatch.setattr(write, "store_batch", real_store)
    result = _backfill("--snapshot", str(SAMPLE), "--no-embed", "--batch", "50")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == CLEAN
    assert _count(settings_env) == 200


def test_backfill_snapshot_queues_embedding_of_new_papers(
    settings_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued: list[list[int]] = []

    class Task:
        def delay(self, paper_ids: list[int]) -> None:
            queued.append(paper_ids)

    monkeypatch.setattr("workers.tasks.embed_papers", Task())
    result = _backfill("--snapshot", str(SAMPLE), "--batch", "80")
    assert result.exit_code == 0, result.output
    assert [len(ids) for ids in queued] == [80, 80, 40]
    assert sorted(i for ids in queued for i in ids) == sorted(p.id for p in _stored(settings_env).values())
    queued.clear()
    assert _backfill("--snapshot", str(SAMPLE), "--restart").exit_code == 0
    assert queued == []  # nothing new or changed: nothing to embed


def test_backfill_snapshot_runs_the_embed_task_in_process_without_redis(
    settings_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real eager `embed.papers` task and index update; only the model is a stand-in here.
    embedder = FakeEmbedder()
    monkeypatch.setattr("app.search.refresh.get_embedder", lambda settings: embedder)
    path = tmp_path / "five.jsonl"
    path.write_bytes(b"".join(LINES[:5]))
    result = _backfill("--snapshot", str(path), "--batch", "3")
    assert result.exit_code == 0, result.output
    assert embedder.calls == 2  # one task per batch of new papers
    with session_scope(settings_env) as session:
        vectors = session.scalars(select(Embedding.paper_id).where(Embedding.model == embedder.name))
        assert sorted(vectors) == sorted(p.id for p in _stored(settings_env).values())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give --snapshot PATH"),
        (["--oai"], "give --snapshot PATH"),
        (["--snapshot", str(SAMPLE), "--oai", "--from", "2024-01-01"], "give --snapshot PATH"),
        (["--snapshot", str(SAMPLE), "--set", "cs"], "give --snapshot PATH"),
        (["--oai", "--from", "2024-01-01", "--since", "2024-01-01"], "--since is for --snapshot"),
        (["--snapshot", str(SAMPLE), "--since", "01/01/2020"], "--since must be YYYY-MM-DD"),
        (["--snapshot", "/nonexistent/arxiv.json"], "No such file"),
    ],
)
def test_backfill_refuses_bad_options(settings_env: Settings, args: list[str], message: str) -> None:
    result = _backfill(*args)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert _count(settings_env) == 0


@pytest.mark.parametrize("content", [b"", bytes(range(256)) * 4000 + b"\n" * 3000], ids=["empty", "garbage"])
def test_a_file_without_one_snapshot_record_fails_in_few_lines(
    settings_env: Settings, tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """Random bytes had 'finished' with exit 0, after one warning line per line of the file."""
    path = tmp_path / "not-the-snapshot.json"
    path.write_bytes(content)
    caplog.set_level("WARNING", logger="app.store.backfill.snapshot")
    result = _backfill("--snapshot", str(path), "--no-embed")
    assert result.exit_code == 1
    assert "is a record of arXiv's metadata snapshot" in result.stderr and "nothing stored" in result.stderr
    assert len(caplog.records) <= 21 and _count(settings_env) == 0


# --- OAI-PMH ---------------------------------------------------------------------------------------


def _oai_pages(split: int) -> tuple[bytes, bytes]:
    """The recorded 46-record response cut in two pages, the first with a resumption token."""
    head, _, rest = OAI.partition("<record>")
    records = ["<record>" + r for r in rest.split("<record>")]
    records[-1] = records[-1].split("</ListRecords>")[0]
    tail = "</ListRecords>\n</OAI-PMH>\n"
    token = '<resumptionToken cursor="0" completeListSize="46">6960524|1001</resumptionToken>\n'
    last = '<resumptionToken cursor="30" completeListSize="46"></resumptionToken>\n'
    first = head + "".join(records[:split]) + token + tail
    second = head + "".join(records[split:]) + last + tail
    return first.encode(), second.encode()


OAI_IDS = {e.arxiv_id for e in parse_feed(OAI.encode()).entries}
OAI_ARGS = ("--oai", "--from", "2015-01-16", "--until", "2015-01-18", "--set", "cs", "--no-embed")
OAI_DONE = "backfill finished: 2 pages, 46 records read: 46 new, 0 updated, 0 unchanged, 0 filtered out, 0 skipped as malformed"


@pytest.fixture
def oai_server(
    settings_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., LoopbackServer]]:
    servers: list[LoopbackServer] = []

    def start(*replies: Reply) -> LoopbackServer:
        server = LoopbackServer({"/oai2": replies}).start()
        servers.append(server)
        monkeypatch.setenv("ARXIV_OAI_URL", f"{server.url}/oai2")
        get_settings.cache_clear()
        return server

    yield start
    for server in servers:
        server.close()


def test_backfill_oai_pages_through_resumption_tokens_and_retries_503(
    settings_env: Settings, oai_server: Callable[..., LoopbackServer]
) -> None:
    first, second = _oai_pages(30)
    server = oai_server(Reply(503, b"busy", {"Retry-After": "0"}), Reply(200, first), Reply(200, second))
    result = _backfill(*OAI_ARGS)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == OAI_DONE
    stored = _stored(settings_env)
    assert len(OAI_IDS) == 46 and set(stored) == OAI_IDS
    for entry in parse_feed(OAI.encode()).entries:
        _assert_stored_as_parsed(stored[entry.arxiv_id], entry)
    assert (stored["1501.03549"].msc_class, stored["1501.03549"].acm_class) == ("52C25, 74N10", "I.3.5")
    asked = [r.query for r in server.requests]
    assert len(asked) == 3 and asked[0] == asked[1]
    assert asked[0] == {
        "verb": ["ListRecords"],
        "metadataPrefix": ["arXiv"],
        "from": ["2015-01-16"],
        "until": ["2015-01-18"],
        "set": ["cs"],
    }
    assert asked[2] == {"verb": ["ListRecords"], "resumptionToken": ["6960524|1001"]}
    again = _backfill(*OAI_ARGS)
    assert again.exit_code == 0 and again.stdout.startswith("backfill already finished on ")
    assert len(server.requests) == 3


def test_backfill_oai_resumes_from_the_saved_token(
    settings_env: Settings, oai_server: Callable[..., LoopbackServer]
) -> None:
    first, second = _oai_pages(30)
    server = oai_server(Reply(200, first), Reply(503, b"down", {"Retry-After": "0"}))
    failed = _backfill(*OAI_ARGS)
    assert failed.exit_code == 1 and "HTTP 503" in failed.stderr
    assert _count(settings_env) == 30 and _state(settings_env).token == "6960524|1001"

    server.script("/oai2", Reply(200, second))
    result = _backfill(*OAI_ARGS)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == OAI_DONE
    assert "continuing an interrupted run" in result.stdout
    assert server.requests[-1].query == {"verb": ["ListRecords"], "resumptionToken": ["6960524|1001"]}
    assert set(_stored(settings_env)) == OAI_IDS


def test_backfill_oai_expired_token_says_to_restart(
    settings_env: Settings, oai_server: Callable[..., LoopbackServer]
) -> None:
    first, _ = _oai_pages(30)
    expired = OAI.split("<ListRecords>")[0] + '<error code="badResumptionToken">expired</error>\n</OAI-PMH>\n'
    server = oai_server(Reply(200, first), Reply(200, expired.encode()))
    result = _backfill(*OAI_ARGS)
    assert result.exit_code == 1 and "--restart" in result.stderr
    server.script("/oai2", Reply(200, OAI.encode()))  # the whole list on one page
    restarted = _backfill(*OAI_ARGS, "--restart")
    assert restarted.exit_code == 0, restarted.output
    assert restarted.stdout.splitlines()[0] == (
        "backfill finished: 1 pages, 46 records read: 16 new, 0 updated, 30 unchanged, 0 filtered out, "
        "0 skipped as malformed"
    )


def test_backfill_oai_filters_by_category(
    settings_env: Settings, oai_server: Callable[..., LoopbackServer]
) -> None:
    oai_server(Reply(200, OAI.encode()))
    wanted = {
        e.arxiv_id
        for e in parse_feed(OAI.encode()).entries
        if any(c == "cs.LG" or c.startswith("stat.") for c in e.categories)
    }
    result = _backfill(*OAI_ARGS, "--categories", "cs.LG,stat.*")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        f"backfill finished: 1 pages, 46 records read: {len(wanted)} new, 0 updated, 0 unchanged, "
        f"{46 - len(wanted)} filtered out, 0 skipped as malformed"
    )
    assert set(_stored(settings_env)) == wanted and 0 < len(wanted) < 46


NO_RECORDS = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
    b"<responseDate>2026-12-07T10:00:00Z</responseDate><request>https://oaipmh.arxiv.org/oai</request>"
    b'<error code="noRecordsMatch">no records match</error></OAI-PMH>'
)


def test_an_open_ended_oai_harvest_is_topped_up_from_the_day_it_finished(
    settings_env: Settings, oai_server: Callable[..., LoopbackServer]
) -> None:
    """Without --until, a finished harvest said "already finished" for good: the records arXiv
    announced since were never asked for."""
    _, second = _oai_pages(30)
    server = oai_server(Reply(200, OAI.encode()), Reply(200, second), Reply(200, NO_RECORDS))
    args = ("--oai", "--from", "2015-01-16", "--set", "cs", "--no-embed")
    first = _backfill(*args)
    assert first.exit_code == 0, first.output
    finished = _state(settings_env).finished_at
    assert finished is not None and len(_stored(settings_env)) == 46
    again = _backfill(*args)
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith(
        "backfill finished: 2 pages, 62 records read: 46 new, 0 updated, 16 unchanged"
    )
    assert "this run: 16 records" in again.stdout
    since = {
        "verb": ["ListRecords"],
        "metadataPrefix": ["arXiv"],
        "from": [f"{finished:%Y-%m-%d}"],
        "set": ["cs"],
    }
    assert server.requests[1].query == since
    third = _backfill(*args)  # nothing new: an empty answer, still finished
    assert third.exit_code == 0 and third.stdout.startswith("backfill finished: 3 pages, 62 records read")
    assert server.requests[2].query == since
    assert _state(settings_env).finished_at is not None and _state(settings_env).token is None


def test_a_harvest_until_a_day_to_come_is_topped_up_too(
    settings_env: Settings, oai_server: Callable[..., LoopbackServer]
) -> None:
    """An --until after the day it finished said "already finished" for good, as no --until did (QA)."""
    later = dt.date.today() + dt.timedelta(days=365)
    server = oai_server(Reply(200, OAI.encode()), Reply(200, NO_RECORDS))
    args = ("--oai", "--from", "2015-01-16", "--until", later.isoformat(), "--set", "cs", "--no-embed")
    assert _backfill(*args).exit_code == 0
    finished = _state(settings_env).finished_at
    assert finished is not None
    again = _backfill(*args)
    assert again.exit_code == 0 and again.stdout.startswith("backfill finished: 2 pages")
    assert server.requests[1].query["from"] == [f"{finished:%Y-%m-%d}"]
    assert server.requests[1].query["until"] == [later.isoformat()]


def test_an_interrupted_top_up_whose_token_expired_asks_again_from_its_day(
    settings_env: Settings, oai_server: Callable[..., LoopbackServer]
) -> None:
    """The top-up's first page cleared the finish: an expired token then needed --restart, the whole
    history again (QA). The earlier finish is kept until the top-up's last page."""
    first, second = _oai_pages(30)
    expired = OAI.split("<ListRecords>")[0] + '<error code="badResumptionToken">expired</error>\n</OAI-PMH>\n'
    server = oai_server(Reply(200, OAI.encode()))
    args = ("--oai", "--from", "2015-01-16", "--set", "cs", "--no-embed")
    assert _backfill(*args).exit_code == 0
    finished = _state(settings_env).finished_at
    server.script("/oai2", Reply(200, first), Reply(404, b"gone for now"))  # 404: no retries to wait for
    stopped = _backfill(*args)
    assert stopped.exit_code == 1
    state = _state(settings_env)
    assert (state.token, state.finished_at) == ("6960524|1001", finished)
    server.script("/oai2", Reply(200, expired.encode()), Reply(200, second))
    resumed = _backfill(*args)
    assert resumed.exit_code == 0, resumed.output
    asked = [r.query for r in server.requests[-2:]]
    assert asked[0] == {"verb": ["ListRecords"], "resumptionToken": ["6960524|1001"]}
    assert asked[1]["from"] == [f"{finished:%Y-%m-%d}"]  # the top-up's day, not 2015-01-16
    assert _state(settings_env).finished_at != finished and _state(settings_env).token is None
