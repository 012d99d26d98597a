"""The embed step as users run it: CLI, the embed task (eager), admin reindex; the real bundled model."""

from __future__ import annotations

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings, get_settings
from app.search.index import read_meta
from tests.conftest import DATA

RSS2 = DATA / "rss" / "rss2-2024-multicat-csLG+csAI+csCL+statML.xml"
ATOM = DATA / "rss" / "atom-2024-csLG.xml"
runner = CliRunner()


def test_cli_embed_then_reindex_then_related(settings_env: Settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert runner.invoke(cli, ["ingest", "--file", str(RSS2)]).exit_code == 0
    embedded = runner.invoke(cli, ["embed"])
    assert embedded.exit_code == 0, embedded.output
    assert "4 papers embedded, 0 left; index: 4 vectors (flat)" in embedded.output
    assert runner.invoke(cli, ["embed"]).output.strip().startswith("0 papers embedded")
    meta = read_meta(settings_env)
    assert meta is not None and (meta.model, meta.dim, meta.count) == ("all-MiniLM-L6-v2", 384, 4)

    # A later ingest, then the embed task (in-process without Redis) extends the index.
    assert runner.invoke(cli, ["ingest", "--file", str(ATOM)]).exit_code == 0
    from workers.tasks import embed_papers

    result = embed_papers.delay(None).get()
    assert result["embedded"] == 3 and result["remaining"] == 0
    assert read_meta(settings_env).count == 7  # type: ignore[union-attr]

    monkeypatch.setenv("ADMIN_TOKEN", "s3cret")
    get_settings.cache_clear()
    from app.main import create_app

    with TestClient(create_app()) as client:
        queued = client.post("/api/v1/admin/reindex", headers={"Authorization": "Bearer s3cret"})
        assert queued.status_code == 202
        state = client.get(
            f"/api/v1/admin/tasks/{queued.json()['task_id']}", headers={"Authorization": "Bearer s3cret"}
        )
        assert state.json()["state"] == "SUCCESS" and state.json()["result"]["count"] == 7
        related = client.get("/api/v1/papers/2609.26811/related", params={"k": 3}).json()
        assert len(related["items"]) == 3
        semantic = client.get(
            "/api/v1/search", params={"q": "layer-wise training without backpropagation", "mode": "semantic"}
        ).json()
        assert semantic["semantic"] is True and semantic["items"][0]["arxiv_id"] == "2609.26811"
