"""The digest webhook never reaches loopback, private or link-local addresses (unless allowed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.config import get_settings
from app.profiles.deliver import NotDelivered, Recipient, post_webhook
from app.profiles.webhook_target import PrivateTargetError, parse_target, resolve_public
from tests.loopback import LoopbackServer, Reply

AT = "2026-01-01T10:00:00Z"
PRIVATE = [
    "http://127.0.0.1/hook",
    "http://127.1.2.3:8080/hook",
    "http://localhost:9000/hook",
    "http://api.localhost/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://10.0.0.7/hook",
    "http://192.168.1.1/hook",
    "http://172.16.0.1/hook",
    "http://169.254.169.254/latest/meta-data",  # a cloud's metadata service
    "http://[fe80::1]/hook",
    "http://0.0.0.0/hook",
    "http://100.64.0.1/hook",  # carrier-grade NAT
    # IPv6 forms carrying a private IPv4 address (Python calls them global)
    "http://[::127.0.0.1]/hook",  # IPv4-compatible
    "http://[::ffff:0:7f00:1]/hook",  # IPv4-translated
    "http://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 to 169.254.169.254
    "http://[64:ff9b:1::a00:7]/hook",  # local-use NAT64
    "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",  # Teredo
]


def test_ipv6_forms_of_public_ipv4_addresses_stay_allowed() -> None:
    from ipaddress import ip_address

    from app.outbound import is_public

    for public in ("64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8", "2606:4700:4700::1111"):
        assert is_public(ip_address(public)), public


@pytest.fixture
def hook() -> Iterator[LoopbackServer]:
    with LoopbackServer({"/hook": Reply(200, b"{}")}) as server:
        yield server


def _recipient(url: str) -> Recipient:
    return Recipient(profile_id=1, email=None, webhook_url=url, webhook_secret="s", unsubscribe_key="k")


@pytest.mark.parametrize("url", PRIVATE)
def test_a_private_address_is_refused_at_save(client: TestClient, url: str) -> None:
    token = client.post("/api/v1/profiles").json()["token"]
    digest = {"frequency": "daily", "webhook_url": url, "updated_at": AT}
    response = client.put(f"/api/v1/profiles/{token}", json={"digest": digest})
    assert response.status_code == 422, response.text
    assert "webhook_url" in response.json()["detail"]
    assert client.get(f"/api/v1/profiles/{token}").json()["digest"]["webhook_url"] is None


MALFORMED = ["http://[zz]/x", "http://exa mple.com/x", "http://\u0000/x", "http://a..b/x", "http://h:99999/x"]


@pytest.mark.parametrize("url", MALFORMED)
def test_a_malformed_url_is_refused_at_save(client: TestClient, url: str) -> None:
    token = client.post("/api/v1/profiles").json()["token"]
    digest = {"frequency": "daily", "webhook_url": url, "updated_at": AT}
    response = client.put(f"/api/v1/profiles/{token}", json={"digest": digest})
    assert response.status_code == 422, response.text  # [zz] was a 500
    assert response.json()["detail"].startswith("digest.webhook_url: ")


def test_a_public_address_or_a_name_is_saved(client: TestClient) -> None:
    token = client.post("/api/v1/profiles").json()["token"]
    urls = (
        "https://hooks.example/x",
        "http://93.184.216.34:8080/hook",
        "https://[2606:4700::1111]/h",
        "https://bücher.example/hook",
    )
    for day, url in enumerate(urls, start=1):  # a name is not resolved at save: delivery resolves it
        digest = {"frequency": "daily", "webhook_url": url, "updated_at": f"2026-01-0{day}T10:00:00Z"}
        response = client.put(f"/api/v1/profiles/{token}", json={"digest": digest})
        assert response.status_code == 200, response.text
        assert response.json()["digest"]["webhook_url"] == url


def test_loopback_is_saved_when_the_setting_allows_it(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE", "true")
    get_settings.cache_clear()
    try:
        token = client.post("/api/v1/profiles").json()["token"]
        digest = {"frequency": "daily", "webhook_url": "http://127.0.0.1:9/hook", "updated_at": AT}
        response = client.put(f"/api/v1/profiles/{token}", json={"digest": digest})
        assert response.status_code == 200, response.text
        assert response.json()["digest"]["webhook_url"] == "http://127.0.0.1:9/hook"
    finally:
        get_settings.cache_clear()


def test_delivery_refuses_a_private_address_and_sends_nothing(hook: LoopbackServer) -> None:
    port = hook.url.rsplit(":", 1)[1]
    for url in (f"{hook.url}/hook", f"http://localhost:{port}/hook"):  # a literal, and a name resolved
        with pytest.raises(NotDelivered, match="refused"):
            post_webhook({"papers": []}, _recipient(url), allow_private=False)
    assert hook.requests_for("/hook") == []


def test_delivery_goes_to_the_address_checked_with_the_name_as_host(hook: LoopbackServer) -> None:
    port = hook.url.rsplit(":", 1)[1]
    post_webhook({"papers": []}, _recipient(f"http://localhost:{port}/hook"), allow_private=True)
    (request,) = hook.requests_for("/hook")
    assert request.method == "POST" and request.headers["host"] == f"localhost:{port}"


def test_a_name_resolving_to_any_private_address_is_refused() -> None:
    target = parse_target("http://localhost:8080/x")
    with pytest.raises(PrivateTargetError, match="non-public"):
        resolve_public(target, allow_private=False)
    assert resolve_public(target, allow_private=True) in ("127.0.0.1", "::1")
