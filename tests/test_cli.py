"""The `coolpapers` command on a real, committed database (SQLite or PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from app.arxiv.parse import parse_feed
from app.cli import cli
from app.config import Settings
from app.store.db import session_scope
from app.store.models import FetchLog, Listing, Paper
from tests.conftest import DATA
from tests.daily_feeds import daily_feed
from tests.loopback import LoopbackServer, Reply

RSS2 = DATA / "rss" / "rss2-2024-multicat-csLG+csAI+csCL+statML.xml"
ATOM_LG = DATA / "rss" / "atom-2024-csLG.xml"
runner = CliRunner()


def _counts(settings: Settings) -> tuple[int, int]:
    with session_scope(settings) as session:
        papers = session.scalar(select(func.count()).select_from(Paper)) or 0
        listings = session.scalar(select(func.count()).select_from(Listing)) or 0
    return papers, listings


def test_ingest_file_prints_one_summary_line_and_is_idempotent(settings_env: Settings) -> None:
    first = runner.invoke(cli, ["ingest", "--file", str(RSS2)])
    assert first.exit_code == 0, first.output
    assert (
        first.output.strip()
        == "4 entries seen, 4 papers new, 0 papers updated, 6 listings added (2026-09-24)"
    )
    again = runner.invoke(cli, ["ingest", "--file", str(RSS2)])
    assert again.output.strip().startswith("4 entries seen, 0 papers new, 0 papers updated, 0 listings added")
    assert _counts(settings_env) == (4, 6)


def test_ingest_file_with_category_and_date(settings_env: Settings) -> None:
    api = DATA / "api" / "api-legacy-csRO-search.xml"
    result = runner.invoke(cli, ["ingest", "--file", str(api), "--category", "cs.RO", "--date", "2024-05-06"])
    assert result.exit_code == 0, result.output
    assert "(2024-05-06)" in result.output
    assert _counts(settings_env)[1] > 0


@pytest.mark.parametrize(
    "body",
    [b"", b"<html><body>502 Bad Gateway</body></html>", RSS2.read_bytes()[:3000], b"\x00\xff" * 100],
)
def test_ingest_bad_file_fails_clearly_and_stores_nothing(
    settings_env: Settings, tmp_path: Path, body: bytes
) -> None:
    path = tmp_path / "bad.xml"
    path.write_bytes(body)
    result = runner.invoke(cli, ["ingest", "--file", str(path)])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert _counts(settings_env) == (0, 0)


def test_ingest_without_source_or_bad_date_fails(settings_env: Settings) -> None:
    assert runner.invoke(cli, ["ingest"]).exit_code == 1
    bad = runner.invoke(cli, ["ingest", "--file", str(RSS2), "--date", "24/09/2026"])
    assert bad.exit_code == 1 and "YYYY-MM-DD" in bad.stderr
    for far in ("2999-01-01", "1900-01-01"):  # a listing dated 2999 became every page's latest day
        out_of_range = runner.invoke(cli, ["ingest", "--file", str(RSS2), "--date", far])
        assert out_of_range.exit_code == 1 and f"--date {far} is not an arXiv day" in out_of_range.stderr
    backwards = runner.invoke(cli, ["backfill", "--oai", "--from", "2021-01-01", "--until", "2020-01-01"])
    assert backwards.exit_code == 1 and "--from 2021-01-01 is after --until 2020-01-01" in backwards.stderr
    with session_scope(settings_env) as session:
        assert session.scalar(select(func.count()).select_from(Listing)) == 0


def test_ingest_live_uses_conditional_get_and_logs(
    settings_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.config import get_settings

    headers = {"ETag": '"day-1"', "Last-Modified": "Thu, 24 Sep 2026 04:00:00 GMT"}
    script = {"/rss/cs.LG": [Reply(200, daily_feed("cs.LG"), headers), Reply(304, headers=headers)]}
    with LoopbackServer(script) as server:
        monkeypatch.setenv("ARXIV_RSS_URL", f"{server.url}/rss")
        get_settings.cache_clear()
        first = runner.invoke(cli, ["ingest", "--category", "cs.LG"])
        second = runner.invoke(cli, ["ingest", "--category", "cs.LG"])
        sent = server.requests_for("/rss/cs.LG")
    assert first.exit_code == 0, first.output
    assert first.output.startswith("4 entries seen, 4 papers new")
    assert second.exit_code == 0 and "not modified" in second.output
    assert sent[1].headers["if-none-match"] == '"day-1"'
    with session_scope(get_settings()) as session:
        statuses = [row.http_status for row in session.scalars(select(FetchLog).order_by(FetchLog.id))]
    assert statuses == [200, 304]


def test_ingest_live_failure_is_one_line_and_logged(
    settings_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.config import get_settings

    with LoopbackServer({"/rss/cs.LG": [Reply(404, b"nope")]}) as server:
        monkeypatch.setenv("ARXIV_RSS_URL", f"{server.url}/rss")
        get_settings.cache_clear()
        result = runner.invoke(cli, ["ingest", "--category", "cs.LG"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    settings = get_settings()
    assert _counts(settings) == (0, 0)
    with session_scope(settings) as session:
        log = session.scalars(select(FetchLog)).one()
    assert (log.http_status, log.error is not None) == (404, True)


def test_ingest_of_a_file_over_the_parsers_limit_is_refused_before_it_is_read(
    settings_env: Settings, tmp_path: Path
) -> None:
    """The CLI allowed 200 MB, then read the whole file for the parser to refuse it at 50 MiB."""
    from app.arxiv.parse import MAX_DOCUMENT_BYTES

    huge = tmp_path / "huge.xml"
    with huge.open("wb") as sparse:  # no disk used: the size is all that is read
        sparse.truncate(MAX_DOCUMENT_BYTES + 1)
    result = runner.invoke(cli, ["ingest", "--file", str(huge)])
    assert result.exit_code == 1
    assert result.stderr == f"error: {huge} is larger than {MAX_DOCUMENT_BYTES:,} bytes\n"


def test_a_live_daily_listing_without_a_date_is_refused(
    settings_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its papers were stored on no day, the fetch counted a success, and its ETag kept the day from
    being listed later."""
    import re

    from app.config import get_settings

    undated = re.sub(
        rb"<pubDate>[^<]*</pubDate>|<lastBuildDate>[^<]*</lastBuildDate>", b"", RSS2.read_bytes()
    )
    with LoopbackServer({"/rss/cs.LG": [Reply(200, undated)]}) as server:
        monkeypatch.setenv("ARXIV_RSS_URL", f"{server.url}/rss")
        get_settings.cache_clear()
        result = runner.invoke(cli, ["ingest", "--category", "cs.LG"])
    assert result.exit_code == 1 and "entries but no date" in result.stderr
    assert _counts(get_settings()) == (0, 0)
    with session_scope(get_settings()) as session:  # logged with the status it came with, not none
        log = session.scalars(select(FetchLog)).one()
    assert (log.http_status, log.error is not None) == (200, True)


def test_demo_loads_bundled_samples(settings_env: Settings) -> None:
    result = runner.invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    papers, listings = _counts(settings_env)
    assert papers >= 100 and listings >= 6


def test_serve_passes_a_metrics_folder_given_in_dotenv_to_the_web_processes(
    settings_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """prometheus-client reads PROMETHEUS_MULTIPROC_DIR from the environment when imported: one written
    in .env alone stopped the app at start ("must be in the process's environment")."""
    import os
    import subprocess
    import sys
    import time

    import httpx

    from tests.workers.conftest import free_port

    metrics = tmp_path / "metrics"
    (tmp_path / ".env").write_text(f"PROMETHEUS_MULTIPROC_DIR={metrics}\n")
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    port = free_port()
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "2"]
    server = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline, answer = time.monotonic() + 60, None
        while answer is None and time.monotonic() < deadline and server.poll() is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
            except httpx.TransportError:
                time.sleep(0.2)
        assert answer is not None and answer.status_code == 200, server.poll()
        # The processes write their metrics there (a request's, once it is answered: waited for).
        deadline = time.monotonic() + 10
        while not list(metrics.glob("*.db")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list(metrics.glob("*.db"))
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0].decode(errors="replace")
    assert "must be in the process's environment" not in output, output


def test_serve_on_a_busy_port_says_so_in_one_line(settings_env: Settings) -> None:
    """uvicorn binds after the app's start-up: exiting then, with the model loading, aborted (exit 134)."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(cli, ["serve", "--port", str(port)])
    assert result.exit_code == 1
    assert result.stderr == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


@pytest.mark.parametrize(
    ("setting", "value", "said"),
    [
        ("EMBED_BATCH_SIZE", "-1", "a setting is not valid: EMBED_BATCH_SIZE: "),
        ("LOG_LEVEL", "bogus", "LOG_LEVEL: Value error, 'bogus': one of DEBUG"),
        ("SCHEDULE_TIMES", "25:99", "'25:99' is not a UTC time HH:MM"),
        ("SCHEDULE_DAYS", "funday", "'funday' is not a cron day of week"),
        ("SCHEDULE_DAYS", "sat-7", "'sat-7' is not a cron day of week"),  # crashed beat and workers
        ("EMBED_DEVICE", "tpu", "'tpu': auto, cpu, cuda, cuda:N or mps"),
        ("EMBED_DTYPE", "int3", "'int3': auto, float32, bfloat16 or float16"),
        ("DATABASE_URL", "nonsense", "DATABASE_URL cannot be read: Could not parse"),
        ("DATABASE_URL", "sqlite:///{tmp}/never-upgraded.db", "no tables yet (no such table: papers): run `coolpapers db upgrade`"),
    ],
)  # fmt: skip
def test_a_bad_setting_or_database_is_one_error_line(
    settings_env: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setting: str,
    value: str,
    said: str,
) -> None:
    """Not a 40-180-line traceback: `coolpapers` (app.cli.main) says what to fix, and exits 1."""
    from app.cli import main
    from app.config import get_settings

    monkeypatch.setenv(setting, value.format(tmp=tmp_path))
    monkeypatch.setattr(
        "sys.argv",
        [
            "coolpapers",
            "ingest",
            "--file",
            str(DATA / "rss" / "rss2-2024-multicat-csLG+csAI+csCL+statML.xml"),
        ],
    )
    get_settings.cache_clear()
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and said in err and "Traceback" not in err, err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("argv", [["schedule", "--once"], ["ingest", "--category", "cs.AI"]])
def test_redis_away_is_one_error_line(
    settings_env: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
) -> None:
    """With REDIS_URL set and Redis away, these printed 360-575 lines (Celery's retries, a traceback)."""
    from app.cli import main
    from app.config import get_settings
    from tests.workers.conftest import free_port

    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    monkeypatch.setattr("sys.argv", ["coolpapers", *argv])
    get_settings.cache_clear()
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Redis cannot be reached at REDIS_URL: ") and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_an_embedding_model_that_cannot_be_loaded_is_one_error_line(
    settings_env: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, backend: str
) -> None:
    """It was a 105-line traceback; a hub name (never downloaded) ended in Hugging Face's OSError."""
    from app.config import get_settings

    runner.invoke(cli, ["ingest", "--file", str(RSS2)])
    monkeypatch.setenv("EMBED_MODEL", str(tmp_path / "no-such-model"))
    monkeypatch.setenv("EMBED_BACKEND", backend)
    get_settings.cache_clear()
    result = runner.invoke(cli, ["embed"])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "(EMBED_MODEL) cannot be loaded" in result.stderr and "Traceback" not in result.stderr
    reindexed = runner.invoke(cli, ["reindex"])
    assert (
        reindexed.exit_code == 0
        and "no vectors of" in reindexed.output
        and "coolpapers embed" in reindexed.output
    )


def test_serve_refuses_a_port_out_of_range(settings_env: Settings) -> None:
    refused = runner.invoke(cli, ["serve", "--port", "99999"])  # uvicorn took it modulo 65536
    assert refused.exit_code == 2 and "--port" in refused.output


@pytest.mark.parametrize(
    ("asked", "served", "stored"),
    [
        ("cs.CV", ATOM_LG.read_bytes(), 0),
        ("cs.LG", ATOM_LG.read_bytes(), 1),
        # cs.LG, cs.AI, cs.CL and stat.ML's feed: a cs.LG-only paper was listed in stat.ML (QA)
        ("stat.ML", RSS2.read_bytes(), 0),
    ],
)
def test_a_feed_of_another_category_is_not_stored_under_the_one_asked(
    settings_env: Settings, monkeypatch: pytest.MonkeyPatch, asked: str, served: bytes, stored: int
) -> None:
    """A server that answers cs.CV's listing with cs.LG's had its papers listed under cs.CV for good."""
    from app.config import get_settings

    with LoopbackServer({f"/rss/{asked}": [Reply(200, served)]}) as server:
        monkeypatch.setenv("ARXIV_RSS_URL", f"{server.url}/rss")
        get_settings.cache_clear()
        result = runner.invoke(cli, ["ingest", "--category", asked])
    settings = get_settings()
    if stored:
        assert result.exit_code == 0, result.output
        with session_scope(settings) as session:
            assert set(session.scalars(select(Listing.category))) == {"cs.LG"}
        return
    named = "+".join(parse_feed(served).categories)
    assert result.exit_code == 1
    assert result.stderr == f"error: asked for the {asked} listing, got {named}'s\n"
    assert _counts(settings) == (0, 0)
    with session_scope(settings) as session:
        log = session.scalars(select(FetchLog)).one()
    assert (log.category, log.http_status, log.error is not None) == (asked, 200, True)


def test_a_subject_with_two_names_is_the_same_listing() -> None:
    from app.arxiv.types import Feed
    from app.store.ingest import _lists

    def names(*categories: str) -> Feed:
        return Feed(kind="rss2", title="", entries=(), categories=categories)

    assert _lists(names("cs.IT"), "math.IT") and _lists(names("math.IT"), "cs.IT")
    assert not _lists(names("cs.IT"), "cs.IR")
    assert not _lists(names("cs.IT", "cs.IR"), "cs.IT")  # a feed of two lists the other's papers too
