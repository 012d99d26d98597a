"""A real HTTP server on 127.0.0.1 that replays scripted responses and records every request.

It stands in for arXiv (or any HTTP service) in tests that should exercise real sockets, timeouts and
broken connections rather than `httpx.MockTransport`::

    from tests.loopback import LoopbackServer, Reply

    feed = Path("tests/data/rss/rss2-2024-multicat-csLG+csAI+csCL+statML.xml").read_bytes()
    script = {"/rss/cs.LG": [Reply(503, headers={"Retry-After": "1"}), Reply(200, feed)]}
    with LoopbackServer(script) as server:
        settings = Settings(arxiv_rss_url=f"{server.url}/rss", ...)
        ...
        assert [r.path for r in server.requests] == ["/rss/cs.LG", "/rss/cs.LG"]
        assert server.requests[0].headers["user-agent"].startswith("coolpapers")

Behaviour:
- Replies are looked up by path (the query string is ignored) and consumed in order; the last one of a
  path repeats for every later request. A path without a script gets a 404 (and is still recorded).
- `Reply.delay` sleeps before anything is sent (a slow server: use it to trigger read timeouts).
- `Reply.truncate_at` declares the full Content-Length but sends only that many body bytes, then closes
  the connection (a truncated body, as after a connection reset).
- `Reply.chunked` sends the body with `Transfer-Encoding: chunked` and no Content-Length (a body of
  unknown size, to test streaming limits).
- `Reply.trickle` sends the body 100 bytes at a time, that many seconds apart (each read is quick,
  the whole response slow).
- Every request is recorded as a `Recorded` (method, path, query, headers with lower-cased names, body,
  `time.monotonic()` at arrival), in arrival order, in `server.requests`.
- `server.script(path, *replies)` replaces a path's script while the server runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self
from urllib.parse import parse_qs, urlsplit

__all__ = ["LoopbackServer", "Recorded", "Reply"]

_NO_BODY_STATUSES = frozenset({204, 304})


@dataclass(frozen=True)
class Reply:
    """One scripted response."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before sending anything
    truncate_at: int | None = None  # send only this many body bytes, then close the connection
    chunked: bool = False  # Transfer-Encoding: chunked instead of Content-Length
    trickle: float = 0.0  # seconds between 100-byte pieces of the body


@dataclass(frozen=True)
class Recorded:
    """One request as the server received it."""

    method: str
    path: str  # without the query string
    query: dict[str, list[str]]  # parsed query string (parse_qs, blank values kept)
    raw_query: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    time: float  # time.monotonic() when the request line and headers had arrived

    def param(self, name: str) -> str | None:
        """The first value of a query parameter, or None."""
        values = self.query.get(name)
        return values[0] if values else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: LoopbackServer

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hanging up (timeouts, aborted reads) are expected here: stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def log_message(self, format: str, *args: object) -> None:
        """Silence the default stderr access log."""

    def _serve(self) -> None:
        arrived = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        recorded = Recorded(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            raw_query=parts.query,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            time=arrived,
        )
        owner = self.server.owner
        reply = owner._record_and_pick(recorded)
        if reply.delay > 0 and owner._stopping.wait(reply.delay):
            self.close_connection = True
            return
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        names = {name.lower() for name in reply.headers}
        for name, value in reply.headers.items():
            self.send_header(name, value)
        has_body = reply.status not in _NO_BODY_STATUSES and self.command != "HEAD"
        if reply.chunked and has_body:
            self.send_header("Transfer-Encoding", "chunked")
        elif "content-length" not in names:
            self.send_header("Content-Length", str(len(reply.body) if has_body else 0))
        if reply.truncate_at is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        if not has_body:
            return
        body = reply.body if reply.truncate_at is None else reply.body[: reply.truncate_at]
        if reply.chunked:
            self._write_chunked(body, complete=reply.truncate_at is None)
        elif reply.trickle:
            for start in range(0, len(body), 100):
                self.wfile.write(body[start : start + 100])
                self.wfile.flush()
                time.sleep(reply.trickle)
        else:
            self.wfile.write(body)
        self.wfile.flush()
        if reply.truncate_at is not None:
            self.close_connection = True

    def _write_chunked(self, body: bytes, *, complete: bool, size: int = 16_384) -> None:
        for start in range(0, len(body), size):
            piece = body[start : start + size]
            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        if complete:
            self.wfile.write(b"0\r\n\r\n")


class LoopbackServer:
    """Replays scripted `Reply`s per path on a random free port of 127.0.0.1; see the module doc."""

    def __init__(self, script: Mapping[str, Reply | Sequence[Reply]] | None = None) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._scripts: dict[str, list[Reply]] = {}
        self._requests: list[Recorded] = []
        for path, replies in (script or {}).items():
            self.script(path, *([replies] if isinstance(replies, Reply) else replies))
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. `http://127.0.0.1:54321`."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[Recorded]:
        """A snapshot of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str) -> list[Recorded]:
        return [request for request in self.requests if request.path == path]

    def script(self, path: str, *replies: Reply) -> None:
        """Replace the replies of `path` (consumed in order; the last repeats)."""
        if not replies:
            raise ValueError("a script needs at least one Reply")
        with self._lock:
            self._scripts[path] = list(replies)

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def close(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _record_and_pick(self, request: Recorded) -> Reply:
        with self._lock:
            self._requests.append(request)
            replies = self._scripts.get(request.path)
            if not replies:
                return Reply(404, b"no scripted reply for this path\n", {"Content-Type": "text/plain"})
            return replies.pop(0) if len(replies) > 1 else replies[0]
