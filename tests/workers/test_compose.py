"""docker-compose.yml, as the compose client resolves it (`config`: no Docker engine needed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from app.config import Settings
from tests.workers.conftest import ROOT, Cluster

COMPOSE = ROOT / "docker-compose.yml"
APP_SERVICES = ("migrate", "web", "worker", "embedder", "embedder-gpu", "beat")


def _client() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def _config(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    client = _client()
    if client is None:
        pytest.skip("no compose client (docker-compose or docker compose) on this machine")
    empty = tmp_path / "empty.env"  # a developer's .env must not change what is checked
    empty.touch()
    return subprocess.run(
        [*client, "--env-file", str(empty), "-f", str(COMPOSE), "config"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), **env},
        check=False,
    )


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    result = _config(
        tmp_path_factory.mktemp("compose"), POSTGRES_USER="u", POSTGRES_PASSWORD="p", POSTGRES_DB="d"
    )
    assert result.returncode == 0, result.stderr
    return dict(yaml.safe_load(result.stdout)["services"])


def _command(service: dict[str, Any]) -> str:
    command = service["command"]
    return " ".join(command) if isinstance(command, list) else str(command)


def test_services_and_profiles(services: dict[str, Any]) -> None:
    assert set(services) == {"db", "redis", *APP_SERVICES, "flower", "mail"}
    assert {name: s.get("profiles") for name, s in services.items() if s.get("profiles")} == {
        "embedder-gpu": ["gpu"],
        "flower": ["monitoring"],
        "mail": ["mail"],  # Mailpit catches the digests' e-mail
    }


def test_database_and_redis(services: dict[str, Any]) -> None:
    db, redis = services["db"], services["redis"]
    assert db["image"].startswith("postgres:15")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert any(v.startswith("pg-data:/var/lib/postgresql/data") for v in db["volumes"])
    assert redis["image"].startswith("redis:7")
    assert "--appendonly yes" in _command(redis) and "--maxmemory-policy noeviction" in _command(redis)
    assert "ping" in redis["healthcheck"]["test"]
    assert any(v.startswith("redis-data:/data") for v in redis["volumes"])


def test_app_services_share_settings_and_data(services: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["DATABASE_URL"] == "postgresql+psycopg://u:p@db:5432/d", name
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["DATA_DIR"] == "/data"
        assert any(v.startswith("app-data:/data") for v in services[name]["volumes"]), name


def test_commands_queues_and_order(services: dict[str, Any]) -> None:
    assert _command(services["migrate"]) == "alembic upgrade head"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    web = services["web"]
    assert _command(web) == "coolpapers serve --host 0.0.0.0 --port 8000 --workers 2"
    assert "/healthz" in " ".join(web["healthcheck"]["test"])
    assert "-Q fetch,summarize" in _command(services["worker"])
    for name in ("embedder", "embedder-gpu"):
        assert "-Q embed --concurrency=1" in _command(services[name]), name
    assert "celery -A workers.celery_app beat" in _command(services["beat"])
    for name in ("web", "worker", "embedder", "embedder-gpu", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy", name


@pytest.mark.parametrize("name", ["worker", "embedder", "embedder-gpu"])
def test_celery_workers_are_checked_by_a_ping_to_their_own_node(services: dict[str, Any], name: str) -> None:
    node = _command(services[name]).split(" -n ")[1].split("@")[0]
    kind, command = services[name]["healthcheck"]["test"]
    assert kind == "CMD-SHELL" and f"inspect ping --destination {node}@$${{HOSTNAME}} " in command


def test_the_workers_healthcheck_passes_for_its_live_worker_only(
    services: dict[str, Any], cluster: Cluster
) -> None:
    """The compose healthcheck's own command, run against a real worker named as compose names it."""
    cluster.worker("worker")  # node worker@test
    command = services["worker"]["healthcheck"]["test"][1].replace("$$", "$")
    env = cluster.env(PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")

    def check(hostname: str, timeout: str) -> subprocess.CompletedProcess[str]:
        shell = command.replace("--timeout 10", f"--timeout {timeout}")
        return subprocess.run(
            ["sh", "-c", shell],
            cwd=ROOT,
            env={**env, "HOSTNAME": hostname},
            capture_output=True,
            text=True,
            check=False,
        )

    alive = check("test", "10")
    assert alive.returncode == 0 and "pong" in alive.stdout, alive.stdout + alive.stderr
    assert check("elsewhere", "1").returncode != 0


def test_gpu_embedder_asks_for_a_gpu_and_a_cuda_build(services: dict[str, Any]) -> None:
    gpu = services["embedder-gpu"]
    [device] = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert (device["driver"], device["capabilities"]) == ("nvidia", ["gpu"])
    assert gpu["build"]["args"]["VARIANT"] == "gpu"
    assert gpu["image"] != services["embedder"]["image"]
    assert gpu["environment"]["EMBED_DEVICE"] == "cuda"


def test_password_is_required(tmp_path: Path) -> None:
    result = _config(tmp_path)
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


def test_every_setting_reaches_the_containers() -> None:
    """The settings anchor passes each Settings field through: a new setting must be added there."""
    source = yaml.safe_load(COMPOSE.read_text())
    names = {name.upper() for name in Settings.model_fields}
    missing = names - set(source["x-settings"])
    assert not missing, f"add {sorted(missing)} to x-settings in docker-compose.yml"
    stale = set(source["x-settings"]) - names
    assert not stale, f"x-settings passes {sorted(stale)}, which no setting reads"
