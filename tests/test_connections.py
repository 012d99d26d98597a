"""The web server drops connections whose request head does not arrive in REQUEST_HEAD_TIMEOUT: a real
`coolpapers serve`, raw sockets. uvicorn alone held a silent or trickling connection forever (slowloris)."""

from __future__ import annotations

import socket
import time

import pytest

from app.config import Settings
from tests.test_proxies import served

HEAD_TIMEOUT = 1.0


def _closed_after(conn: socket.socket) -> tuple[bytes, float]:
    """What the server sends until it closes the connection, and after how long."""
    started, received = time.monotonic(), b""
    while chunk := conn.recv(4096):
        received += chunk
    return received, time.monotonic() - started


def _answer(conn: socket.socket) -> bytes:
    """One whole answer: its head, then as many bytes of body as its Content-Length says."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += conn.recv(4096)
    return data


@pytest.fixture
def base(settings_env: Settings, monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.setenv("REQUEST_HEAD_TIMEOUT", str(HEAD_TIMEOUT))
    with served("127.0.0.1") as url:
        yield url


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def test_a_silent_connection_is_dropped(base: str) -> None:
    with _connect(base) as conn:
        received, after = _closed_after(conn)
    assert received == b"" and HEAD_TIMEOUT - 0.2 < after < HEAD_TIMEOUT + 3


def _trickle(conn: socket.socket, lines: int) -> float | None:
    """Send a request head a line every 0.3 s: seconds until the server closed the connection, or
    None when it never did."""
    started = time.monotonic()
    conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    conn.settimeout(0.01)
    for n in range(lines):
        time.sleep(0.3)
        try:
            conn.sendall(f"X-Trickle-{n}: y\r\n".encode())
            if conn.recv(1) == b"":
                return time.monotonic() - started
        except TimeoutError:
            continue
        except OSError:  # reset: closed
            return time.monotonic() - started
    return None


def test_a_head_trickled_a_line_at_a_time_is_dropped_before_it_ends(base: str) -> None:
    with _connect(base) as conn:
        closed = _trickle(conn, lines=20)
    assert closed is not None and closed < HEAD_TIMEOUT + 1


def test_requests_are_answered_and_an_idle_kept_connection_then_dropped(base: str) -> None:
    with _connect(base) as conn:
        for _ in range(2):  # each answer re-arms the deadline for the next head
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _answer(conn).startswith(b"HTTP/1.1 200 OK")
            time.sleep(HEAD_TIMEOUT / 2)
        received, after = _closed_after(conn)
    assert received == b"" and after < HEAD_TIMEOUT + 3
