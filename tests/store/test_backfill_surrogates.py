"""A snapshot record that is valid JSON yet holds a lone surrogate is skipped, not fatal (both databases)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings
from app.store.db import session_scope
from app.store.models import Paper
from tests.conftest import DATA

SAMPLE = DATA / "snapshot" / "arxiv-metadata-oai-snapshot.head200.jsonl"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _keep_root_log_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI points the root logger at CliRunner's stream, closed after each invoke: undo that."""
    monkeypatch.setattr(logging.getLogger(), "handlers", list(logging.getLogger().handlers))


@pytest.mark.parametrize("field", ["title", "abstract", "comments", "journal-ref"])
def test_lone_surrogate_is_counted_as_malformed_and_skipped(
    settings_env: Settings, tmp_path: Path, field: str
) -> None:
    lines = SAMPLE.read_bytes().splitlines(keepends=True)[:30]
    record = json.loads(lines[3])
    record[field] = "x \ud800"  # json.dumps writes it as the escape "\ud800": valid JSON
    lines[3] = json.dumps(record).encode() + b"\n"
    assert b"\\ud800" in lines[3]
    path = tmp_path / "snapshot.jsonl"
    path.write_bytes(b"".join(lines))
    runs = [
        runner.invoke(cli, ["backfill", "--snapshot", str(path), "--no-embed", "--batch", "8"]) for _ in "ab"
    ]
    assert [run.exit_code for run in runs] == [0, 0], runs[0].output
    assert "29 new" in runs[0].stdout and "1 skipped as malformed" in runs[0].stdout
    assert "bad_text" in runs[0].stdout
    with session_scope(settings_env) as session:
        stored = set(session.scalars(select(Paper.arxiv_id)))
    assert len(stored) == 29 and record["id"] not in stored
