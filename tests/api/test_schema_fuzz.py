"""Schemathesis against the app's own OpenAPI: every /api/v1 operation, valid and invalid input.

One test per operation over one committed database (per module) holding the recorded feeds and the
API's 100 entries. Schemathesis's checks run: no 5xx, status codes, content types, headers and
bodies as the schema documents them, schema-invalid input refused with a 4xx; no request may take
longer than REQUEST_TIMEOUT seconds. Left out: `positive_data_acceptance` (a schema-valid request
must not get a 4xx). Category expressions (`cs.AI+cs.LG-cs.CY`) and arXiv ids in any spelling are
checked by the code beyond what JSON Schema says of them, and a well-typed but meaningless value is
a documented 422 (InvalidQueryError), e.g. `/api/v1/listings/0`. Admin operations run with the bearer token (their tasks run
in-process and fail fast: arXiv is the discard port here). SCHEMA_FUZZ_EXAMPLES raises the number
of generated cases per operation and generation mode (default 25).

The schema is loaded at import rather than from a fixture:
schemathesis 4's lazy `from_fixture` loader reaches into a pytest internal (`Node._nodeid`) that
pytest 9 no longer has.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode, checks

from app.config import Settings, get_settings
from app.main import create_app
from app.store.ingest import ingest_file
from tests.conftest import DATA, _fresh_database

TOKEN = "schema-fuzz-admin-token"
EXAMPLES = int(os.environ.get("SCHEMA_FUZZ_EXAMPLES", "25"))
REQUEST_TIMEOUT = 10.0
FEEDS = [*sorted((DATA / "rss").glob("*.xml")), DATA / "api" / "api-2025-cs-100-entries.xml"]
ENV = {
    "ADMIN_TOKEN": TOKEN,
    "ARXIV_RETRIES": "0",
    "TASK_RETRY_BACKOFF": "0",
    # Limits have their own tests; here they would only hide code behind 429s.
    "RATE_SEARCH_PER_MINUTE": "1000000",
    "RATE_SUMMARY_PER_MINUTE": "1000000",
    "RATE_STAR_PER_MINUTE": "1000000",
    "SUMMARY_PER_IP_LIMIT": "1000000",
    "SUMMARY_DAILY_LIMIT": "1000000",
}

APP = create_app()
# The document straight from the app (from_asgi would request it, starting the app's lifespan while
# pytest collects); requests go to the app in process, over ASGI.
schema = schemathesis.openapi.from_dict(APP.openapi()).include(path_regex="^/api/v1/")
schema.app = APP
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=EXAMPLES
)


@pytest.fixture(scope="module")
def loaded_database(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A committed database with the sample feeds, shared by the module's tests (as settings_env makes)."""
    folder = tmp_path_factory.mktemp("schema-fuzz")
    url, data_dir = _fresh_database(folder), folder / "data"
    loader = Settings(_env_file=None, database_url=url, data_dir=data_dir)  # type: ignore[call-arg]
    for path in FEEDS:
        ingest_file(loader, path=path, category=None, day=None)
    return url, data_dir


@pytest.fixture(autouse=True)
def api_settings(loaded_database: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    url, data_dir = loaded_database
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    for name in ("REDIS_URL", "LLM_BASE_URL", "LLM_API_KEY", "LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@schema.parametrize()
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=REQUEST_TIMEOUT,
        # allow_header_conformance: where GET and POST of one path are two routes (a summary is read by
        # GET and started by POST), Starlette's 405 names the methods of the first route only.
        excluded_checks=[checks.positive_data_acceptance, checks.allow_header_conformance],
    )
