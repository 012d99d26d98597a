"""Profile merges racing: on the real app and a committed database (SQLite file or PostgreSQL), PUTs
of one profile sent at once are merged one after the other."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.profiles import store
from app.profiles.store import ItemChange, create_profile, merge_profile, profile_items
from app.store.db import session_scope
from app.store.models import Profile
from tests.summarize.test_limits import at_once

STAR = "2512.13565"


@pytest.fixture
def client(settings_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    from app.main import create_app

    monkeypatch.setenv("RATE_PROFILE_PER_MINUTE", "100000")
    with TestClient(create_app(), raise_server_exceptions=False) as test_client:
        yield test_client


def _live(body: dict[str, list[dict[str, object]]], kind: str) -> list[dict[str, object]]:
    return [item for item in body[kind] if not item["removed"]]


def test_puts_at_once_all_merge_and_the_newest_star_wins(client: TestClient) -> None:
    token = client.post("/api/v1/profiles").json()["token"]

    def put(k: int) -> int:
        body = {
            "items": {
                "stars": [{"value": STAR, "updated_at": f"2026-01-01T00:00:0{k}Z"}],
                "keywords": [
                    {"value": f"word{k}-{i}", "updated_at": "2026-01-01T00:00:00Z"} for i in range(200)
                ],
            }
        }
        return client.put(f"/api/v1/profiles/{token}", json=body).status_code

    assert at_once(4, put) == [200] * 4  # were 500s: two inserts of the same new star
    items = client.get(f"/api/v1/profiles/{token}").json()["items"]
    assert [(s["value"], s["updated_at"]) for s in _live(items, "stars")] == [(STAR, "2026-01-01T00:00:03Z")]
    assert len(_live(items, "keywords")) == 800


def test_puts_at_once_cannot_pass_the_cap_together(client: TestClient) -> None:
    token = client.post("/api/v1/profiles").json()["token"]
    each = store.MAX_ITEMS * 2 // 5  # two fit, three do not

    def put(k: int) -> int:
        words = [{"value": f"w{k}-{i}", "updated_at": "2026-01-01T00:00:00Z"} for i in range(each)]
        return client.put(f"/api/v1/profiles/{token}", json={"items": {"keywords": words}}).status_code

    assert sorted(at_once(3, put)) == [200, 200, 422]
    items = client.get(f"/api/v1/profiles/{token}").json()["items"]
    assert len(_live(items, "keywords")) == 2 * each


def test_a_profile_over_the_cap_can_always_remove(
    settings_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over the cap (a lower MAX_ITEMS after an upgrade, or a race before merges took turns), a merge
    that removes is let through; one that adds is refused."""
    first, later = dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    with session_scope(settings_env) as session:
        profile, _ = create_profile(session)
        merge_profile(session, profile, changes=[ItemChange("keywords", f"w{i}", first) for i in range(10)])
        profile_id = profile.id
    monkeypatch.setattr(store, "MAX_ITEMS", 5)
    with session_scope(settings_env) as session:
        profile = session.get_one(Profile, profile_id)
        merge_profile(session, profile, changes=[ItemChange("keywords", "w0", later, removed=True)])

    def add_one() -> None:
        with session_scope(settings_env) as session:  # rolled back: the exception leaves it
            merge_profile(
                session, session.get_one(Profile, profile_id), changes=[ItemChange("keywords", "new", later)]
            )

    with pytest.raises(store.ProfileTooLargeError, match="would hold 10"):
        add_one()
    with session_scope(settings_env) as session:
        live = [i.value for i in profile_items(session, profile_id) if not i.removed]
    assert len(live) == 9 and "w0" not in live
