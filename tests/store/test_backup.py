"""Backup and restore as docs/operations.md tells them: dump -> fresh database -> restore -> same service.

PostgreSQL: `pg_dump -Fc`, then `pg_restore --clean --if-exists --no-owner` into a new database, with
the server's own binaries (found like tests/services.sh finds initdb). SQLite: the online backup API
(what the sqlite3 shell's `.backup` does; consistent under WAL while the service writes). Either
way the FAISS index is not backed up: it is rebuilt from the restored embeddings table and must
give the same neighbours.
"""

from __future__ import annotations

import datetime as dt
import glob
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from app.config import Settings, get_settings
from app.search.index import IndexHolder
from app.search.refresh import embed_and_index, reindex
from app.store.counters import bump_counter
from app.store.db import make_engine, session_scope
from app.store.embeddings import vector_of
from app.store.ingest import ingest_file
from app.store.models import Base, Paper, Summary
from tests.conftest import DATA
from tests.fakes import FakeEmbedder

MODEL = "all-MiniLM-L6-v2"  # the configured model's name: the app's searcher finds these vectors
API100 = DATA / "api" / "api-2025-cs-100-entries.xml"
API_DAY = dt.date(2025, 12, 16)
LISTINGS = ("/api/v1/listings/cs.LG", "/api/v1/listings/cs.CL?date=2025-12-16&limit=1000")


def _load(settings: Settings, embedder: FakeEmbedder) -> None:
    """Papers and listings of four feeds, vectors and an index, a ready summary, counters."""
    for path in sorted((DATA / "rss").glob("*.xml")):
        ingest_file(settings, path=path, category=None, day=None)
    ingest_file(settings, path=API100, category="cs.CL", day=API_DAY)
    embed_and_index(settings, embedder=embedder)
    now = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    with session_scope(settings) as session:
        papers = session.scalars(select(Paper).order_by(Paper.id).limit(3)).all()
        session.add(
            Summary(
                paper_id=papers[0].id,
                model="extractive",
                prompt_version="faq_v1",
                lang="en",
                status="ready",
                content=[{"question": "What is it?", "answer": "A *test*."}],
                context="abstract",
                prompt_tokens=12,
                completion_tokens=34,
                attempts=1,
                created_at=now,
                updated_at=now,
            )
        )
        for paper in papers:
            bump_counter(session, paper_id=paper.id, kind="kimi", day=API_DAY, delta=paper.id)
            bump_counter(session, paper_id=paper.id, kind="pdf", day=API_DAY)


def _tables(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (and the schema revision), in primary-key order."""
    with session_scope(settings) as session:
        rows = {
            table.name: [tuple(row) for row in session.execute(select(table).order_by(*table.primary_key))]
            for table in Base.metadata.sorted_tables
        }
        rows["alembic_version"] = [
            tuple(r) for r in session.execute(text("SELECT version_num FROM alembic_version"))
        ]
    return rows


def _neighbours(settings: Settings, embedder: FakeEmbedder) -> dict[int, list[int]]:
    """The 10 nearest papers of each of the first 20, from the index on disk."""
    index = IndexHolder(settings).get(model=embedder.name)
    assert index is not None
    with session_scope(settings) as session:
        ids = session.scalars(select(Paper.id).order_by(Paper.id).limit(20)).all()
        vectors = {i: vector_of(session, paper_id=i, model=embedder.name) for i in ids}
    return {
        i: [pid for pid, _ in index.search(np.asarray(v), 10)] for i, v in vectors.items() if v is not None
    }


def _responses() -> dict[str, Any]:
    from app.main import create_app

    paths = [*LISTINGS, "/api/v1/categories", "/api/v1/search?q=language+models&mode=keyword"]
    with TestClient(create_app()) as client:
        responses = {path: client.get(path) for path in paths}
        first = responses[LISTINGS[1]].json()["items"][0]["arxiv_id"]
        responses["related"] = client.get(f"/api/v1/papers/{first}/related", params={"k": 5})
    assert all(r.status_code == 200 for r in responses.values()), {p: r.text for p, r in responses.items()}
    return {path: r.json() for path, r in responses.items()}


# --- the commands of docs/operations.md --------------------------------------------------------


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    path = found[-1] if found else shutil.which(name)
    assert path, f"{name} not found (install the postgresql package)"
    return path


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _backup(url: str, folder: Path) -> Path:
    if url.startswith("sqlite"):
        target = folder / "coolpapers-backup.db"
        with sqlite3.connect(make_url(url).database or "") as source, sqlite3.connect(target) as copy:
            source.backup(copy)
        return target
    target = folder / "coolpapers.dump"
    subprocess.run([_pg_bin("pg_dump"), "-Fc", "-f", str(target), "-d", _libpq(url)], check=True)
    return target


def _restore(backup: Path, folder: Path, base_url: str) -> str:
    """Into a database that did not exist before; returns its URL."""
    if base_url.startswith("sqlite"):
        target = folder / "restored" / "coolpapers.db"
        target.parent.mkdir()
        with sqlite3.connect(backup) as source, sqlite3.connect(target) as fresh:
            source.backup(fresh)
        return f"sqlite:///{target}"
    name = f"{make_url(base_url).database}_restored"
    admin = make_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    restore = [_pg_bin("pg_restore"), "--clean", "--if-exists", "--no-owner", "--exit-on-error"]
    subprocess.run([*restore, "-d", _libpq(url), str(backup)], check=True)
    return url


@pytest.fixture
def embedder() -> FakeEmbedder:
    return FakeEmbedder(name=MODEL)


@pytest.fixture
def use_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def use(url: str, data_dir: Path) -> Settings:
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("DATA_DIR", str(data_dir))
        monkeypatch.setenv("INDEX_RELOAD_SECONDS", "0")
        get_settings.cache_clear()
        return get_settings()

    yield use
    get_settings.cache_clear()


def test_dump_restore_into_a_fresh_database_serves_the_same(
    settings_env: Settings, tmp_path: Path, embedder: FakeEmbedder, use_database: Any
) -> None:
    original = use_database(settings_env.sqlalchemy_url, settings_env.data_dir)
    _load(original, embedder)
    before = (_tables(original), _responses(), _neighbours(original, embedder))
    assert len(before[0]["papers"]) > 100 and before[0]["summaries"] and before[0]["counters"]
    assert len(before[0]["embeddings"]) == len(before[0]["papers"])

    backup = _backup(original.sqlalchemy_url, tmp_path)
    restored = use_database(_restore(backup, tmp_path, original.sqlalchemy_url), tmp_path / "restored-data")
    assert restored.sqlalchemy_url != original.sqlalchemy_url
    assert not (restored.data_dir / "index").exists()  # derived: not part of the backup
    meta = reindex(restored, embedder=embedder)
    assert meta is not None and meta.count == len(before[0]["papers"])

    after = (_tables(restored), _responses(), _neighbours(restored, embedder))
    assert after[0] == before[0]
    assert after[1] == before[1]
    assert after[2] == before[2]
    # The restored database takes new writes (on PostgreSQL: its sequences came back too).
    report = ingest_file(restored, path=DATA / "api" / "api-legacy-csRO-search.xml", category=None, day=None)
    assert report.new > 0


@pytest.mark.parametrize("how", ["backup-api", "vacuum-into"])
def test_sqlite_backup_is_one_consistent_snapshot_while_the_service_writes(tmp_path: Path, how: str) -> None:
    """One read transaction in WAL mode: writers go on, the copy is the database at one instant.

    (A backup stepped a few pages at a time restarts whenever another connection writes, and so
    may never end on a busy database: docs/operations.md uses one step, or VACUUM INTO.)
    """
    source = tmp_path / "live.db"
    with sqlite3.connect(source) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, pad TEXT)")
        setup.executemany("INSERT INTO t (pad) VALUES (?)", [("x" * 500,)] * 20_000)
    stop, commits = threading.Event(), [0]

    def write() -> None:
        with sqlite3.connect(source, timeout=30) as writer:
            while not stop.is_set():
                writer.execute("INSERT INTO t (pad) VALUES ('y')")
                writer.commit()
                commits[0] += 1

    thread = threading.Thread(target=write)
    thread.start()
    target = tmp_path / "copy.db"
    try:
        while commits[0] < 10:
            time.sleep(0.01)
        with sqlite3.connect(source, timeout=30) as reader:
            if how == "backup-api":
                with sqlite3.connect(target) as copy:
                    reader.backup(copy)  # pages=-1: the whole database in one step
            else:
                reader.execute("VACUUM INTO ?", (str(target),))
        during = commits[0]
    finally:
        stop.set()
        thread.join()
    with sqlite3.connect(target) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        count, top = copy.execute("SELECT count(*), max(n) FROM t").fetchone()
    assert count == top and 20_010 <= count <= 20_000 + during  # no gap: one instant of the database
