"""feedparser's own ill-formed corpus (tests/illformed of its sdist) through `coolpapers ingest --file`.

Each file either fails with exit code 1 and one `error:` line (JSON log lines aside), never a
traceback, leaving the database as it was; or, were it a valid arXiv feed, exits 0 with the one
summary line. One test loops over the corpus: a fresh database per file would cost more than the
ingests themselves.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings
from app.store.db import session_scope
from app.store.models import Base, Paper
from tests.conftest import DATA

CORPUS = DATA / "feedparser-illformed"
RSS2 = DATA / "rss" / "rss2-2024-multicat-csLG+csAI+csCL+statML.xml"
runner = CliRunner()


def _database_state(settings: Settings) -> dict[str, object]:
    """Row counts of every table, plus each paper's stored fields that an ingest would touch."""
    with session_scope(settings) as session:
        state: dict[str, object] = {
            table.name: session.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }
        rows = session.execute(
            select(Paper.arxiv_id, Paper.version, Paper.title, Paper.abstract).order_by(Paper.arxiv_id)
        )
        state["papers:rows"] = [tuple(row) for row in rows]
    return state


def _problems(path: Path, exit_code: int, stdout: str, stderr: str) -> list[str]:
    name = path.relative_to(CORPUS)
    lines = stderr.splitlines()
    if "Traceback" in stdout + stderr:
        return [f"{name}: a traceback"]
    if exit_code == 0:
        ok = len(stdout.splitlines()) == 1 and " entries seen, " in stdout
        return [] if ok else [f"{name}: exit 0 without one summary line: {stdout!r}"]
    if exit_code != 1:
        return [f"{name}: exit code {exit_code}"]
    errors = [line for line in lines if line.startswith("error: ")]
    others = [line for line in lines if not line.startswith("error: ") and not _is_json_log(line)]
    if len(errors) != 1 or others or stdout:
        return [f"{name}: stderr is not one error line: {stderr!r} (stdout {stdout!r})"]
    if len(errors[0]) < len("error: ") + 10:
        return [f"{name}: error line says too little: {errors[0]!r}"]
    return []


def _is_json_log(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def test_feedparser_illformed_corpus_through_ingest(settings_env: Settings) -> None:
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name not in ("LICENSE", "README.md"))
    assert len(files) >= 19  # the corpus of feedparser 6.0.14
    seeded = runner.invoke(cli, ["ingest", "--file", str(RSS2)])
    assert seeded.exit_code == 0, seeded.output
    problems, failed = [], 0
    for path in files:
        before = _database_state(settings_env)
        result = runner.invoke(cli, ["ingest", "--file", str(path)])
        problems += _problems(path, result.exit_code, result.stdout, result.stderr)
        if result.exit_code != 0:
            failed += 1
            if _database_state(settings_env) != before:
                problems.append(f"{path.relative_to(CORPUS)}: a failed ingest changed the database")
    assert not problems, "\n".join(problems)
    assert failed == len(files)  # none of them is an arXiv feed
