"""X-Forwarded-For is believed only from TRUSTED_PROXIES: a real `coolpapers serve` (uvicorn with
`--forwarded-allow-ips` from the setting) on loopback, where per-client limits show which address counted."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from app.config import Settings

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 2  # searches per client per minute in these servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served(trusted_proxies: str) -> Iterator[str]:
    """`coolpapers serve` on a free loopback port with these trusted proxies: its base URL."""
    port = free_port()
    env = os.environ | {"TRUSTED_PROXIES": trusted_proxies, "RATE_SEARCH_PER_MINUTE": str(LIMIT)}
    command = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start within 60 s"
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def searches_from_many_addresses(base: str, addresses: list[str] | None = None) -> list[int]:
    """LIMIT + 1 searches, each claiming another client address (or those given): their statuses."""
    if time.time() % 60 > 57:  # the limit's window is the wall-clock minute: not across its end
        time.sleep(60 - time.time() % 60 + 0.1)
    statuses = []
    for address in addresses or [f"203.0.113.{n + 1}" for n in range(LIMIT + 1)]:
        forwarded = {"X-Forwarded-For": address}
        response = httpx.get(f"{base}/api/v1/search", params={"q": "x", "mode": "keyword"}, headers=forwarded)
        statuses.append(response.status_code)
    return statuses


def test_forwarded_for_from_an_untrusted_peer_is_ignored(settings_env: Settings) -> None:
    # The proxy named is not this peer (127.0.0.1): each request counts as 127.0.0.1's.
    with served("192.0.2.10") as base:
        assert searches_from_many_addresses(base) == [200] * LIMIT + [429]


def test_forwarded_for_from_a_trusted_proxy_names_the_client(settings_env: Settings) -> None:
    # The control: from a trusted proxy each forwarded address is a client of its own.
    with served("127.0.0.1") as base:
        assert searches_from_many_addresses(base) == [200] * (LIMIT + 1)


def test_an_ipv6_client_counts_by_its_64_and_a_mapped_address_as_its_ipv4(settings_env: Settings) -> None:
    """Counted per address string, one /64 was 2^64 clients, and ::ffff:a.b.c.d another than a.b.c.d."""
    same_64 = ["2001:db8:1:2::1", "2001:db8:1:2::ffff", "2001:db8:1:2:0:0:0:3"]
    mapped = ["198.51.100.7", "::ffff:198.51.100.7", "::ffff:c633:6407"]
    with served("127.0.0.1") as base:
        assert searches_from_many_addresses(base, same_64) == [200] * LIMIT + [429]
        assert searches_from_many_addresses(base, mapped) == [200] * LIMIT + [429]
        assert searches_from_many_addresses(base, ["2001:db8:1:3::1"]) == [200]  # another /64
