"""An upload refused for who sent it (another site's page, a client over its limit) or because uploads
are off is answered at once, its body unread: a real `coolpapers serve`, a raw socket that sends the
headers of a 10 MB upload and a few bytes of it, then waits for the answer without sending the rest.

Declared as a route parameter, the file was received and spooled whole before the route's checks ran:
each refused request cost the server its 20 MB."""

from __future__ import annotations

import socket

import pytest

from app.config import Settings
from tests.test_proxies import served

DECLARED = 10_000_000


def _answer_to_a_partial_upload(base: str, path: str, **headers: str) -> str:
    """The status line the server answers after the headers and 1 KB of a 10 MB body."""
    host, port = base.removeprefix("http://").split(":")
    lines = [
        f"POST {path} HTTP/1.1", f"Host: {host}:{port}",
        "Content-Type: multipart/form-data; boundary=b", f"Content-Length: {DECLARED}",
        *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items()),
    ]  # fmt: skip
    head = "\r\n".join(lines).encode() + b"\r\n\r\n"
    body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="p.pdf"\r\n\r\n%PDF-1.7\n'
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head + body + b"x" * 1000)
        try:
            return conn.recv(200).split(b"\r\n", 1)[0].decode()
        except TimeoutError:
            return "no answer within 10 s (the server waited for the rest of the body)"


@pytest.mark.parametrize("path", ["/api/v1/uploads", "/upload"])
def test_a_refused_upload_is_answered_before_its_body_is_read(
    settings_env: Settings, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    monkeypatch.setenv("UPLOADS", "on")
    monkeypatch.setenv("UPLOAD_MAX_BYTES", str(DECLARED))
    monkeypatch.setenv("RATE_UPLOAD_PER_MINUTE", "1")
    with served("127.0.0.1") as base:
        cross_site = _answer_to_a_partial_upload(base, path, Origin="https://evil.example")
        assert cross_site == "HTTP/1.1 403 Forbidden"
        # The refused one spent the minute's only upload (the limit is counted first).
        assert _answer_to_a_partial_upload(base, path) == "HTTP/1.1 429 Too Many Requests"


def test_with_uploads_off_a_pdfs_worth_is_over_the_sites_limit(
    settings_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPLOADS", "off")
    with served("127.0.0.1") as base:
        assert _answer_to_a_partial_upload(base, "/api/v1/uploads") == "HTTP/1.1 413 Request Entity Too Large"
