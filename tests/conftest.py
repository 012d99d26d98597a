"""Test database fixtures: one migrated database per run, each test inside a rolled-back transaction.

SQLite by default; PostgreSQL when TEST_DATABASE_URL is set (`make test` runs the suite on both).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app.config import Settings, get_settings
from app.deps import get_session
from app.store.db import get_sessionmaker, make_engine
from app.store.migrate import alembic_config
from tests.arxiv_api import ArxivApiServer

# Pages are sent with `Cache-Control: no-cache` (revalidate each time), as a reader would see a change.
os.environ.setdefault("PAGE_FRESH_SECONDS", "0")

DATA = Path(__file__).parent / "data"
_databases = itertools.count()


def pytest_report_header() -> str:
    return f"database: {'PostgreSQL' if os.environ.get('TEST_DATABASE_URL') else 'SQLite'}"


def _sqlite_savepoints(engine: Engine) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; let SQLAlchemy emit BEGIN itself.
    @event.listens_for(engine, "connect")
    def _no_autobegin(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn):  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("BEGIN")


def _fresh_database(tmp_dir: Path) -> str:
    """A new, empty, migrated database: a SQLite file, or a new database on the PostgreSQL server."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        url = f"sqlite:///{tmp_dir / f'test-{next(_databases)}.db'}"
    else:
        name = f"coolpapers_t{os.getpid()}_{next(_databases)}"
        admin = make_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = make_url(base).set(database=name).render_as_string(hide_password=False)
    command.upgrade(alembic_config(url), "heads")
    return url


@pytest.fixture(scope="session", autouse=True)
def offline_arxiv() -> Iterator[ArxivApiServer]:
    """No test reaches the network: the arXiv API answers from recordings, the rest is refused."""
    server = ArxivApiServer()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ARXIV_API_URL", server.url)
        patch.setenv("ARXIV_MIN_INTERVAL", "0")
        for name in ("ARXIV_RSS_URL", "ARXIV_OAI_URL", "ARXIV_PDF_URL"):
            patch.setenv(name, "http://127.0.0.1:9/refused")  # the discard port: nothing listens
        # Apps started by tests do not load the real model in the background (tests that need it
        # load it, or set EMBED_PRELOAD=true).
        patch.setenv("EMBED_PRELOAD", "false")
        get_settings.cache_clear()
        yield server
    server.shutdown()
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def fresh_rate_limits() -> Iterator[None]:
    """Each test starts with empty per-client rate-limit windows, no cached pages, rankings or vectors.

    The caches must go: a rolled-back test's rows get their ids (and, within a second, their
    ingestion times) again in the next test, so two tests' days can have equal stamps.
    """
    from app.httpcache import kept_responses
    from app.ranking.foryou import _ready
    from app.ratelimit import _counter
    from app.search.hybrid import _query_vectors

    for clear in (_counter.cache_clear, kept_responses.cache_clear, _ready.clear, _query_vectors.clear):
        clear()
    yield
    for clear in (_counter.cache_clear, kept_responses.cache_clear, _ready.clear, _query_vectors.clear):
        clear()


@pytest.fixture(scope="session")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _fresh_database(tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    if engine.dialect.name == "sqlite":
        _sqlite_savepoints(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose commits become savepoints of a transaction rolled back after the test."""
    connection = engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def client(session: Session) -> Iterator[TestClient]:
    from app.main import app

    app.dependency_overrides[get_session] = lambda: session
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
    app.dependency_overrides.clear()


@pytest.fixture
def settings_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Real settings for code that opens its own sessions (CLI, tasks): a fresh committed database."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DATABASE_URL", _fresh_database(tmp_path))
    monkeypatch.setenv("ARXIV_MIN_INTERVAL", "0")
    for name in ("REDIS_URL", "LLM_BASE_URL", "LLM_API_KEY", "LLM_MODEL", "ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    settings = get_settings()
    yield settings
    # Each test's database has its own pooled engine: close it, or PostgreSQL runs out of connections.
    get_sessionmaker(settings).kw["bind"].dispose()
    get_settings.cache_clear()
