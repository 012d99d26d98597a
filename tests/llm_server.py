"""A real HTTP server on 127.0.0.1 speaking OpenAI's chat-completions protocol, for tests and benchmarks.

It stands in for the language model (OpenAI, Kimi, DeepSeek, vLLM, Ollama ...) wherever the real thing
cannot be reached, so clients are exercised over real sockets, streams and timeouts::

    from tests.llm_server import Fault, FakeLLMServer

    with FakeLLMServer([Fault.status(429, retry_after=1), "Hello **world**"]) as llm:
        client = OpenAICompatibleClient(base_url=llm.base_url, model="kimi-k2")
        client.complete([{"role": "user", "content": "hi"}]).text   # "Hello **world**", after ~1 s
        assert len(llm.chat_requests) == 2 and llm.generations == 1

Endpoints (anything else gets an OpenAI-shaped 404):
- `POST /v1/chat/completions`: a `chat.completion` object, or with `"stream": true` server-sent events:
  a role-only chunk, one chunk per `chunk_words` words of the answer (their concatenation is the answer),
  a chunk carrying `finish_reason`, a usage chunk with empty `choices` when the request asked for
  `stream_options: {"include_usage": true}`, then `data: [DONE]`. Usage: prompt_tokens counts the words of
  every message, completion_tokens the answer's chunks. The `model` of the request is echoed.
- `GET /v1/models`: the model list (`model`).

What each chat request gets, in arrival order: the next item of the reply queue (`replies`, extended by
`enqueue`), where a `str` is the answer and a `Fault` a scripted misbehaviour; once the queue is empty,
`answer(messages)` (default: "Answer to: " + the first 60 characters of the last user message).
Requests refused before the queue is consulted do not consume an item: a wrong or missing bearer token
when `api_key` is set (401), or `stream_options` when `reject_stream_options` is set (400, as some
servers do).

Timing: `first_token_delay` seconds before the first piece of an answer, `chunk_delay` seconds between
pieces; a whole (non-streamed) answer is sent after the same total time. `reasoning` text, when set, is
sent first as `reasoning_content` (DeepSeek-R1 style), which clients should ignore.

Every request is recorded as an `LLMRequest` (method, path, lower-cased headers, raw body, parsed JSON
body, `time.monotonic()` at arrival) in `requests`; `generations` counts answers sent in full and
`started` answers begun (thread-safe). Closing the server releases any request it is holding (delays,
hangs) at once.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

__all__ = ["FakeLLMServer", "Fault", "LLMRequest", "default_answer"]

Messages = list[dict[str, Any]]


def default_answer(messages: Messages) -> str:
    """ "Answer to: " + the first 60 characters of the last user message (deterministic)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):  # content parts
                content = " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
            return f"Answer to: {str(content or '')[:60]}"
    return "Answer to: (no user message)"


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour; build it with the class methods."""

    kind: str
    code: int = 200
    retry_after: float | str | None = None
    seconds: float = 0.0
    after_chunks: int = 0
    error: Mapping[str, Any] | None = None

    @classmethod
    def status(
        cls,
        code: int,
        *,
        retry_after: float | str | None = None,
        message: str | None = None,
        error: Mapping[str, Any] | None = None,
    ) -> Fault:
        """An HTTP error with an OpenAI-shaped body `{"error": error or {"message": message, ...}}`."""
        body = error or {"message": message or f"scripted HTTP {code}", "type": "server_error", "code": code}
        return cls("status", code=code, retry_after=retry_after, error=body)

    @classmethod
    def auth(cls) -> Fault:
        """401 Unauthorized, as OpenAI answers a wrong key."""
        error = {
            "message": "Incorrect API key provided.",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
        return cls("status", code=401, error=error)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait `seconds` before anything is sent, then answer normally (a slow server: timeouts)."""
        return cls("delay", seconds=seconds)

    @classmethod
    def malformed(cls) -> Fault:
        """200 with a body that is not JSON; for a stream, a `data:` line that is not JSON."""
        return cls("malformed")

    @classmethod
    def content_filter(cls) -> Fault:
        """The first piece of the answer, then `finish_reason: "content_filter"` (Azure's refusal)."""
        return cls("content_filter")

    @classmethod
    def hang_mid_stream(cls, *, after_chunks: int = 2, seconds: float = 60.0) -> Fault:
        """Send `after_chunks` pieces of the answer, then stall `seconds` and drop the connection.

        A whole (non-streamed) request gets nothing for `seconds`, then the connection drops.
        """
        return cls("hang", seconds=seconds, after_chunks=after_chunks)

    @classmethod
    def keepalive(cls, *, seconds: float = 600.0, every: float = 0.2) -> Fault:
        """Start a stream, then send only `: keepalive` comments every `every` seconds for `seconds`
        (no byte of an answer, yet never idle long enough for a read timeout), then drop the connection.

        A whole (non-streamed) request gets nothing for `seconds`, then the connection drops.
        """
        return cls("keepalive", seconds=seconds, after_chunks=max(1, round(seconds / every)))

    @classmethod
    def trickle(cls, pieces: int) -> Fault:
        """Stream `pieces` one-word pieces (`chunk_delay` apart), whatever `max_tokens` the request
        asked for, then finish normally: a server that ignores the token bound."""
        return cls("trickle", after_chunks=pieces)

    @classmethod
    def raw(cls, body: bytes, *, content_type: str = "application/json") -> Fault:
        """200 with exactly `body` (say `b"\\x00\\xff{not json"`), streamed or not."""
        return cls("raw", error={"body": body, "content_type": content_type})

    @classmethod
    def disconnect(cls) -> Fault:
        """Close the connection without answering (a transport error for the client)."""
        return cls("disconnect")


@dataclass(frozen=True)
class LLMRequest:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    raw: bytes
    body: dict[str, Any] | None  # the JSON body, None when there is none or it is not a JSON object
    time: float  # time.monotonic() at arrival

    @property
    def messages(self) -> Messages:
        return list((self.body or {}).get("messages") or [])

    @property
    def stream(self) -> bool:
        return bool((self.body or {}).get("stream"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FakeLLMServer

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hanging up (timeouts, aborted streams) are expected here: stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # every event leaves at once: no 40 ms Nagle / delayed-ACK stalls
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Silence the default stderr access log."""

    def do_GET(self) -> None:
        self._record()
        if self.path.split("?")[0].rstrip("/") == "/v1/models":
            model = {"id": self.server.owner.model, "object": "model", "created": 0, "owned_by": "tests"}
            self._json(200, {"object": "list", "data": [model]})
        else:
            self._error(404, {"message": f"no route {self.path}", "type": "invalid_request_error"})

    def do_POST(self) -> None:
        request = self._record()
        owner = self.server.owner
        if self.path.split("?")[0].rstrip("/") != "/v1/chat/completions":
            self._error(404, {"message": f"no route {self.path}", "type": "invalid_request_error"})
        elif request.body is None or not isinstance(request.body.get("messages"), list):
            self._error(
                400, {"message": "body must be JSON with a messages list", "type": "invalid_request_error"}
            )
        elif owner.api_key and request.headers.get("authorization") != f"Bearer {owner.api_key}":
            self._send_fault(Fault.auth())
        elif owner.reject_stream_options and "stream_options" in request.body:
            message = "Unrecognized request argument supplied: stream_options"
            self._error(400, {"message": message, "type": "invalid_request_error", "param": "stream_options"})
        else:
            self._chat(request, owner.next_reply())

    def _record(self) -> LLMRequest:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = LLMRequest(
            self.command, self.path, headers, raw, body if isinstance(body, dict) else None, time.monotonic()
        )
        self.server.owner.record(request)
        return request

    def _chat(self, request: LLMRequest, reply: str | Fault | None) -> None:
        owner = self.server.owner
        fault = reply if isinstance(reply, Fault) else None
        if fault and fault.kind in ("status", "disconnect"):
            self._send_fault(fault)
            return
        if fault and fault.kind == "raw":
            raw = dict(fault.error or {})
            self._send(200, bytes(raw["body"]), str(raw["content_type"]))
            return
        if fault and fault.kind == "keepalive" and not request.stream:
            owner.stopping.wait(fault.seconds)
            self.close_connection = True
            return
        if fault and fault.kind == "hang" and not request.stream:
            owner.stopping.wait(fault.seconds)
            self.close_connection = True
            return
        if fault and fault.kind == "delay" and owner.stopping.wait(fault.seconds):
            self.close_connection = True
            return
        text = reply if isinstance(reply, str) else owner.answer(request.messages)
        if fault and fault.kind == "trickle":
            text = "".join(f"w{index} " for index in range(fault.after_chunks))
        model = str((request.body or {}).get("model") or owner.model)
        if request.stream:
            self._stream(request, model, text, fault)
        else:
            self._whole(request, model, text, fault)

    def _whole(self, request: LLMRequest, model: str, text: str, fault: Fault | None) -> None:
        owner = self.server.owner
        pieces = owner.pieces(text)
        owner.count("started")
        if owner.stopping.wait(owner.first_token_delay + owner.chunk_delay * max(len(pieces) - 1, 0)):
            return
        if fault and fault.kind == "malformed":
            self._send(200, b"<html><body>502 Bad Gateway (not JSON)</body></html>", "text/html")
            return
        finish = "stop"
        if fault and fault.kind == "content_filter":
            text, finish = pieces[0] if pieces else "", "content_filter"
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if owner.reasoning:
            message["reasoning_content"] = owner.reasoning
        body = {
            **owner.envelope(model, "chat.completion"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": owner.usage(request.messages, len(pieces)),
        }
        # Counted before the answer goes out: a client that has read it may look at once.
        if not fault or fault.kind == "delay":
            owner.count("generations")
        self._json(200, body)

    def _stream(self, request: LLMRequest, model: str, text: str, fault: Fault | None) -> None:
        owner = self.server.owner
        include_usage = bool(((request.body or {}).get("stream_options") or {}).get("include_usage"))
        chunk = owner.envelope(model, "chat.completion.chunk") | ({"usage": None} if include_usage else {})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        owner.count("started")
        self._delta(chunk, {"role": "assistant", "content": ""})
        if fault and fault.kind == "malformed":
            self._event('{"choices": [{"delta": {"content": "unterminated')
            self._event("[DONE]")
            self._raw_chunk(b"")
            return
        if fault and fault.kind == "keepalive":
            every = fault.seconds / fault.after_chunks
            for _ in range(fault.after_chunks):
                if owner.stopping.wait(every):
                    break
                self._raw_chunk(b": keepalive\n\n")
            self.close_connection = True
            return
        if owner.reasoning:
            self._delta(chunk, {"reasoning_content": owner.reasoning})
        trickle = fault is not None and fault.kind == "trickle"
        pieces = [f"{word} " for word in text.split()] if trickle else owner.pieces(text)
        if not self._pieces(chunk, pieces, fault):
            return
        finish = "content_filter" if fault and fault.kind == "content_filter" else "stop"
        self._delta(chunk, {}, finish)
        if include_usage:
            self._event(chunk | {"choices": [], "usage": owner.usage(request.messages, len(pieces))})
        if not fault or fault.kind == "delay":  # before the end: a client that has read it may look at once
            owner.count("generations")
        self._event("[DONE]")
        self._raw_chunk(b"")

    def _pieces(self, chunk: dict[str, Any], pieces: list[str], fault: Fault | None) -> bool:
        """Streams the answer's pieces; False when the stream was cut short (a hang, the server closing)."""
        owner = self.server.owner
        if fault and fault.kind == "content_filter":
            pieces = pieces[:1]
        hang = fault if fault and fault.kind == "hang" else None
        for index, piece in enumerate(pieces):
            if hang and index == hang.after_chunks:
                break
            if owner.stopping.wait(owner.first_token_delay if index == 0 else owner.chunk_delay):
                self.close_connection = True
                return False
            self._delta(chunk, {"content": piece})
        if hang:  # stall (before the finish chunk at the latest), then drop the connection
            owner.stopping.wait(hang.seconds)
            self.close_connection = True
            return False
        return True

    def _send_fault(self, fault: Fault) -> None:
        if fault.kind == "disconnect":
            self.close_connection = True
            return
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        self._error(fault.code, dict(fault.error or {}), headers)

    def _delta(self, chunk: dict[str, Any], delta: dict[str, Any], finish: str | None = None) -> None:
        self._event(chunk | {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    def _event(self, data: dict[str, Any] | str) -> None:
        text = data if isinstance(data, str) else json.dumps(data)
        self._raw_chunk(f"data: {text}\n\n".encode())

    def _raw_chunk(self, data: bytes) -> None:
        """One piece of a chunked body; an empty one ends the body."""
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _error(self, status: int, error: dict[str, Any], headers: Mapping[str, str] | None = None) -> None:
        self._json(status, {"error": error}, headers)

    def _json(self, status: int, payload: object, headers: Mapping[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _send(
        self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()


class FakeLLMServer:
    """An OpenAI-compatible chat model on a random free port of 127.0.0.1; see the module doc."""

    def __init__(
        self,
        replies: Iterable[str | Fault] = (),
        *,
        answer: Callable[[Messages], str] = default_answer,
        model: str = "fake-llm",
        api_key: str | None = None,
        chunk_words: int = 1,
        chunk_delay: float = 0.0,
        first_token_delay: float = 0.0,
        reasoning: str | None = None,
        reject_stream_options: bool = False,
    ) -> None:
        self.answer = answer
        self.model = model
        self.api_key = api_key
        self.chunk_words = max(1, chunk_words)
        self.chunk_delay = chunk_delay
        self.first_token_delay = first_token_delay
        self.reasoning = reasoning
        self.reject_stream_options = reject_stream_options
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._replies: list[str | Fault] = list(replies)
        self._requests: list[LLMRequest] = []
        self._counts = {"started": 0, "generations": 0}
        self._ids = itertools.count(1)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, without a trailing slash."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        """What LLM_BASE_URL should be: `http://127.0.0.1:PORT/v1`."""
        return f"{self.url}/v1"

    @property
    def requests(self) -> list[LLMRequest]:
        """A snapshot of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[LLMRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path.startswith("/v1/chat/completions")]

    @property
    def started(self) -> int:
        """Answers begun (streams whose headers went out, whole answers being prepared)."""
        with self._lock:
            return self._counts["started"]

    @property
    def generations(self) -> int:
        """Answers sent in full (after a `Fault.delay` too; not a content filter's or a malformed one)."""
        with self._lock:
            return self._counts["generations"]

    def enqueue(self, *replies: str | Fault) -> None:
        """Append answers or faults to the reply queue."""
        with self._lock:
            self._replies.extend(replies)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until `count` chat requests have arrived; False on timeout."""
        deadline = time.monotonic() + timeout
        while len(self.chat_requests) < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
            )
            self._thread.start()
        return self

    def close(self) -> None:
        self.stopping.set()
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

    # Used by the request handler.

    def record(self, request: LLMRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def next_reply(self) -> str | Fault | None:
        with self._lock:
            return self._replies.pop(0) if self._replies else None

    def count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def pieces(self, text: str) -> list[str]:
        """The answer cut into stream pieces of `chunk_words` words each (they concatenate to `text`)."""
        words = re.findall(r"\s*\S+\s*|\s+", text)
        return ["".join(words[i : i + self.chunk_words]) for i in range(0, len(words), self.chunk_words)]

    def envelope(self, model: str, kind: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": kind,
            "created": int(time.time()),
            "model": model,
        }

    @staticmethod
    def usage(messages: Messages, pieces: int) -> dict[str, int]:
        prompt = sum(len(str(message.get("content") or "").split()) for message in messages)
        return {"prompt_tokens": prompt, "completion_tokens": pieces, "total_tokens": prompt + pieces}
