"""/api/v1/profiles: create, merge per item (newest wins, tombstones), export, revoke, caps, limits."""

from __future__ import annotations

import hashlib
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import get_settings
from app.profiles.api import MAX_BODY
from app.profiles.store import MAX_ITEMS
from app.store.models import Profile

T1, T2, T3 = "2026-01-01T10:00:00Z", "2026-01-02T10:00:00Z", "2026-01-03T10:00:00Z"


def _new(client: TestClient) -> str:
    response = client.post("/api/v1/profiles")
    assert response.status_code == 201
    token = response.json()["token"]
    assert len(token) >= 40
    return str(token)


def _put(client: TestClient, token: str, body: dict[str, object], status: int = 200) -> dict[str, object]:
    response = client.put(f"/api/v1/profiles/{token}", json=body)
    assert response.status_code == status, response.text
    return dict(response.json())


def _live(profile: dict[str, object], kind: str) -> list[str]:
    items = profile["items"]
    assert isinstance(items, dict)
    return sorted(i["value"] for i in items[kind] if not i["removed"])


def test_profile_stores_only_the_hash_of_its_token(client: TestClient, session: Session) -> None:
    token = _new(client)
    stored = session.scalars(select(Profile.token_hash)).all()
    assert hashlib.sha256(token.encode()).hexdigest() in stored
    assert token not in stored
    profile = client.get(f"/api/v1/profiles/{token}").json()
    assert profile["items"]["stars"] == [] and profile["digest"]["frequency"] == "off"


def test_merge_keeps_the_newest_change_per_item(client: TestClient) -> None:
    token = _new(client)
    # Device A stars two papers and follows an author.
    _put(client, token, {"items": {"stars": [{"value": "2401.00001", "updated_at": T1},
                                             {"value": "arXiv:2401.00002v3", "updated_at": T1}],
                                   "authors": [{"value": "Ada  Lovelace", "updated_at": T1}]}})  # fmt: skip
    # Device B removed the first later, and re-sends an older add of the second: neither undoes A.
    merged = _put(
        client,
        token,
        {"items": {"stars": [{"value": "2401.00001", "updated_at": T2, "removed": True},
                             {"value": "2401.00002", "updated_at": "2025-12-31T00:00:00Z", "removed": True}]}},
    )  # fmt: skip
    assert _live(merged, "stars") == ["2401.00002"]
    assert _live(merged, "authors") == ["Ada Lovelace"]
    # An add older than the removal does not bring it back; a newer one does.
    stale = _put(client, token, {"items": {"stars": [{"value": "2401.00001", "updated_at": T1}]}})
    assert _live(stale, "stars") == ["2401.00002"]
    fresh = _put(client, token, {"items": {"stars": [{"value": "2401.00001", "updated_at": T3}]}})
    assert _live(fresh, "stars") == ["2401.00001", "2401.00002"]
    # The export holds the tombstone history too: another device can merge it.
    exported = client.get(f"/api/v1/profiles/{token}").json()
    assert {(i["value"], i["removed"]) for i in exported["items"]["stars"]} == {
        ("2401.00001", False),
        ("2401.00002", False),
    }


def test_a_removal_at_the_same_time_wins(client: TestClient) -> None:
    token = _new(client)
    _put(client, token, {"items": {"keywords": [{"value": "Diffusion", "updated_at": T1}]}})
    merged = _put(
        client, token, {"items": {"keywords": [{"value": "diffusion", "updated_at": T1, "removed": True}]}}
    )
    assert _live(merged, "keywords") == []


def test_a_clock_in_the_future_is_taken_as_now(client: TestClient) -> None:
    token = _new(client)
    _put(client, token, {"items": {"categories": [{"value": "cs.CL", "updated_at": "2999-01-01T00:00:00Z"}]}})
    # Any removal made later, from a device with a sane clock, still wins.
    import datetime as dt

    later = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)).isoformat()
    merged = _put(
        client, token, {"items": {"categories": [{"value": "cs.CL", "updated_at": later, "removed": True}]}}
    )
    assert _live(merged, "categories") == []


def test_digest_settings_merge_as_one_item_and_hide_the_secret(client: TestClient) -> None:
    token = _new(client)
    digest = {"frequency": "daily", "email": "reader@example.org", "webhook_url": "https://hooks.example/x",
              "webhook_secret": "s3cret", "updated_at": T2}  # fmt: skip
    merged = _put(client, token, {"digest": digest})
    assert merged["digest"] == {"frequency": "daily", "email": "reader@example.org",
                                "webhook_url": "https://hooks.example/x", "webhook_secret_set": True,
                                "email_confirmed": False, "updated_at": "2026-01-02T10:00:00Z"}  # fmt: skip
    older = _put(client, token, {"digest": digest | {"frequency": "off", "updated_at": T1}})
    assert older["digest"]["frequency"] == "daily"
    assert "s3cret" not in json.dumps(client.get(f"/api/v1/profiles/{token}").json())


def test_revoked_token_is_gone(client: TestClient) -> None:
    token = _new(client)
    assert client.delete(f"/api/v1/profiles/{token}").status_code == 204
    for response in (
        client.get(f"/api/v1/profiles/{token}"),
        client.put(f"/api/v1/profiles/{token}", json={}),
        client.get(f"/api/v1/profiles/{token}/feed"),
        client.delete(f"/api/v1/profiles/{token}"),
    ):
        assert response.status_code == 404
        assert "no profile" in response.json()["detail"]


def test_unknown_and_malformed_tokens_are_404(client: TestClient) -> None:
    for token in ("x" * 43, "short", "a" * 300):
        assert client.get(f"/api/v1/profiles/{token}").status_code == 404


@pytest.mark.parametrize("profile_id", ["0", "2147483648", "99999999999999999999", "-1", "x"])
def test_an_unsubscribe_link_with_an_impossible_id_is_refused(client: TestClient, profile_id: str) -> None:
    for method in ("GET", "POST"):  # 99999999999999999999 was a 500 (SQLite's integer overflowed)
        response = client.request(method, f"/api/v1/profiles/unsubscribe/{profile_id}/{'0' * 32}")
        assert response.status_code == 422 and "profile_id" in response.json()["detail"]
    assert client.get(f"/api/v1/profiles/unsubscribe/7/{'0' * 32}").status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"items": {"stars": [{"value": "not-an-id", "updated_at": T1}]}}, "not an arXiv id"),
        ({"items": {"categories": [{"value": "cs.NOPE", "updated_at": T1}]}}, "no category"),
        ({"items": {"colours": [{"value": "red", "updated_at": T1}]}}, "items.colours"),
        ({"items": {"stars": [{"value": "2401.00001", "updated_at": "2026-01-01T10:00:00"}]}}, "timezone"),
        ({"digest": {"frequency": "hourly", "updated_at": T1}}, "digest.frequency"),
        ({"digest": {"frequency": "daily", "email": "nobody", "updated_at": T1}}, "not an e-mail"),
        # accepted, then its confirmation failed unseen (SMTPUTF8 refused) and it never could be (QA)
        ({"digest": {"frequency": "daily", "email": "é@exämple.com", "updated_at": T1}}, "ASCII"),
        ({"digest": {"frequency": "daily", "webhook_url": "ftp://x", "updated_at": T1}}, "webhook_url"),
        # QA: a zero-width keyword matched nothing, unseen; a NUL failed PostgreSQL's insert; a
        # webhook's user and password were stored and never sent
        ({"items": {"keywords": [{"value": "\u200b", "updated_at": T1}]}}, "invisible"),
        ({"items": {"authors": [{"value": "a\u0000b", "updated_at": T1}]}}, "control"),
        (
            {
                "digest": {
                    "frequency": "daily",
                    "webhook_url": "https://u:p@hooks.example/x",
                    "updated_at": T1,
                }
            },
            "no user or password",
        ),
    ],
)
def test_bad_input_is_one_clear_422(client: TestClient, body: dict[str, object], message: str) -> None:
    token = _new(client)
    response = client.put(f"/api/v1/profiles/{token}", json=body)
    assert response.status_code == 422
    assert message in response.json()["detail"]


def test_a_body_that_is_not_json_is_400_and_answers_are_never_cached(client: TestClient) -> None:
    created = client.post("/api/v1/profiles")
    token = created.json()["token"]
    assert created.headers["cache-control"] == "no-store"  # the token, shown once
    response = client.put(
        f"/api/v1/profiles/{token}", content=b"{bad json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and "JSON" in response.json()["detail"]  # as documented (was 422)
    for answer in (client.get(f"/api/v1/profiles/{token}"), client.put(f"/api/v1/profiles/{token}", json={})):
        assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"


def test_profile_size_is_capped(client: TestClient) -> None:
    token = _new(client)
    words = [{"value": f"w{i}", "updated_at": T1} for i in range(MAX_ITEMS)]
    assert len(_live(_put(client, token, {"items": {"keywords": words}}), "keywords")) == MAX_ITEMS
    response = client.put(
        f"/api/v1/profiles/{token}", json={"items": {"authors": [{"value": "One More", "updated_at": T2}]}}
    )
    assert response.status_code == 422
    assert f"at most {MAX_ITEMS} items" in response.json()["detail"]
    # Removals make room; the oldest tombstones go first when the table is full.
    gone = [{"value": f"w{i}", "updated_at": T2, "removed": True} for i in range(10)]
    _put(client, token, {"items": {"keywords": gone}})
    room = _put(client, token, {"items": {"authors": [{"value": "One More", "updated_at": T3}]}})
    assert _live(room, "authors") == ["One More"]


def test_body_over_the_cap_is_413(client: TestClient) -> None:
    token = _new(client)
    padding = [{"value": "x" * 200, "updated_at": T1}] * (MAX_BODY // 200)
    response = client.put(f"/api/v1/profiles/{token}", json={"items": {"keywords": padding}})
    assert response.status_code == 413
    assert "at most" in response.json()["detail"]


def test_profile_requests_are_rate_limited(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RATE_PROFILE_PER_MINUTE", "3")
    get_settings.cache_clear()
    try:
        statuses = [client.post("/api/v1/profiles").status_code for _ in range(4)]
    finally:
        get_settings.cache_clear()
    assert statuses == [201, 201, 201, 429]


def test_a_venue_paper_can_be_starred_and_dismissed(client: TestClient) -> None:
    token = _new(client)
    items = {
        "stars": [
            {"value": "GMwRl2e9Y1@OpenReview", "updated_at": T1},
            {"value": "2401.00001v2", "updated_at": T1},
        ],
        "dismissals": [{"value": "aamand23a@v202@PMLR", "updated_at": T1}],
    }
    profile = _put(client, token, {"items": items})
    assert _live(profile, "stars") == ["2401.00001", "GMwRl2e9Y1@OpenReview"]
    assert _live(profile, "dismissals") == ["aamand23a@v202@PMLR"]
    bad = {"stars": [{"value": "not a paper", "updated_at": T1}]}
    assert "not an arXiv id" in client.put(f"/api/v1/profiles/{token}", json={"items": bad}).text
