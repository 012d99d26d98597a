"""Talking to a language model: one `LLMClient` protocol, one OpenAI-compatible implementation.

`OpenAICompatibleClient` speaks the chat-completions protocol (`POST {base_url}/chat/completions`) that
OpenAI, Moonshot/Kimi, DeepSeek, vLLM, Ollama and llama.cpp's server share, whole or streamed as
server-sent events. It retries 429 / 5xx / timeouts / broken connections with exponential backoff and
jitter, honouring `Retry-After`; a stream is retried only while nothing of the answer has been handed to
`on_delta`, so a half answer is never duplicated. Every failure is an `LLMError` whose message is one line
and never contains the API key.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import re
import ssl
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol, Self

import httpx

from app import __version__
from app.arxiv.fetch import parse_retry_after
from app.errors import LLMAuthError, LLMContentFilterError, LLMError, LLMResponseError, LLMUnavailableError

if TYPE_CHECKING:
    from app.config import Settings

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# How providers report a moderation refusal in an error's code, type or message: Azure `content_filter`
# (inner code ResponsibleAIPolicyViolation), OpenAI `content_policy_violation`, Moonshot/Kimi "considered
# high risk", DeepSeek "Content Exists Risk", Alibaba `data_inspection_failed`.
FILTER_PATTERN = re.compile(
    r"content[_ ](filter|policy)|moderation|high risk|exists risk|responsibleai|data_inspection", re.I
)
Delta = Callable[[str], None]
Messages = Sequence[Mapping[str, str]]  # [{"role": "system" | "user" | "assistant", "content": ...}]


@dataclass(frozen=True, slots=True)
class Completion:
    """One answer of the model and what it cost."""

    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None


class LLMClient(Protocol):
    """A chat model: a whole answer, or a streamed one whose pieces go to `on_delta` as they arrive."""

    model: str

    def complete(self, messages: Messages, *, max_tokens: int | None = None) -> Completion: ...

    def stream(self, messages: Messages, *, on_delta: Delta, max_tokens: int | None = None) -> Completion: ...


@dataclass(slots=True)
class _Answer:
    """An answer being assembled from a response or from stream chunks."""

    model: str
    parts: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def take_usage(self, usage: object) -> None:
        if isinstance(usage, dict):
            self.prompt_tokens = _count(usage.get("prompt_tokens"))
            self.completion_tokens = _count(usage.get("completion_tokens"))

    def completion(self) -> Completion:
        if self.finish_reason == "content_filter":
            raise LLMContentFilterError("the provider's content filter stopped the answer")
        text = "".join(self.parts)
        if not text.strip():
            raise LLMResponseError(f"empty answer (finish_reason {self.finish_reason})")
        return Completion(text, self.model, self.prompt_tokens, self.completion_tokens, self.finish_reason)


class OpenAICompatibleClient:
    """`LLMClient` over httpx for any OpenAI-compatible chat-completions endpoint; see the module doc."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        max_tokens: int = 1024,
        temperature: float | None = 0.3,
        retries: int = 3,
        backoff: float = 1.0,
        max_retry_after: float = 60.0,
        max_response_bytes: int = 5_000_000,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.retries = retries
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self.max_response_bytes = max_response_bytes
        self._api_key = api_key or None
        self._include_usage = True  # dropped for good once a server rejects `stream_options`
        self._sleep = sleep
        headers = {"User-Agent": f"coolpapers-selfhosted/{__version__}"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        timeouts = httpx.Timeout(timeout, connect=connect_timeout)
        self._http = httpx.Client(headers=headers, timeout=timeouts, verify=_tls(), transport=transport)

    @classmethod
    def from_settings(cls, settings: Settings) -> Self | None:
        """A client configured from `Settings`; None when LLM_BASE_URL or LLM_MODEL is unset."""
        if not settings.llm_base_url or not settings.llm_model:
            return None
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return cls(
            base_url=settings.llm_base_url,
            model=settings.llm_model,
            api_key=key,
            timeout=settings.llm_timeout,
            max_tokens=settings.llm_max_tokens,
            retries=settings.llm_retries,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def complete(self, messages: Messages, *, max_tokens: int | None = None) -> Completion:
        """The whole answer to `messages`; raises an `LLMError` when there is none."""
        body = self._body(messages, max_tokens, stream=False)
        with self._errors():
            return self._with_retries(lambda: self._attempt(body, None), delivered=lambda: False)

    def stream(self, messages: Messages, *, on_delta: Delta, max_tokens: int | None = None) -> Completion:
        """The answer to `messages`, each non-empty piece passed to `on_delta` as it arrives."""
        delivered = False

        def forward(text: str) -> None:
            nonlocal delivered
            delivered = True
            on_delta(text)

        def attempt() -> Completion:
            body = self._body(messages, max_tokens, stream=True)
            try:
                return self._attempt(body, forward)
            except LLMResponseError as exc:
                if "stream_options" not in body or "stream_options" not in str(exc) or exc.status != 400:
                    raise
                logger.info("llm server rejects stream_options: asking without", extra={"model": self.model})
                self._include_usage = False
                return self._attempt(self._body(messages, max_tokens, stream=True), forward)

        with self._errors():
            return self._with_retries(attempt, delivered=lambda: delivered)

    def _body(self, messages: Messages, max_tokens: int | None, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(message) for message in messages],
            "max_tokens": max_tokens or self.max_tokens,
            "stream": stream,
        }
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if stream and self._include_usage:
            body["stream_options"] = {"include_usage": True}
        return body

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Gives every `LLMError` leaving the client one line naming the endpoint, without the key."""
        try:
            yield
        except LLMError as exc:
            text = " ".join(f"LLM {self.model} at {httpx.URL(self.base_url).netloc.decode()}: {exc}".split())
            if self._api_key:
                text = text.replace(self._api_key, "[redacted]")
            exc.args = (text if len(text) <= 500 else text[:499] + "…",)
            raise

    def _with_retries(
        self, attempt: Callable[[], Completion], *, delivered: Callable[[], bool]
    ) -> Completion:
        tries = 0
        while True:
            try:
                return attempt()
            except LLMUnavailableError as exc:  # one attempt's transient failure
                if delivered():
                    exc.args = (f"the answer broke off after it had begun, not retried: {exc}",)
                    raise
                if tries >= self.retries:
                    exc.args = (f"gave up after {tries + 1} attempt(s): {exc}",)
                    raise
                delay = self._retry_delay(tries, exc.retry_after)
                logger.info(
                    "llm retry",
                    extra={"model": self.model, "status": exc.status, "attempt": tries + 1, "delay_s": delay},
                )
                self._sleep(delay)
                tries += 1

    def _retry_delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        return min(self.backoff * 2.0**attempt * random.uniform(0.5, 1.5), self.max_retry_after)

    def _attempt(self, body: dict[str, Any], on_delta: Delta | None) -> Completion:
        """One POST: the completion, or an `LLMError` (`LLMUnavailableError`: worth another try)."""
        accept = "text/event-stream" if on_delta else "application/json"
        try:
            with self._http.stream(
                "POST", f"{self.base_url}/chat/completions", json=body, headers={"Accept": accept}
            ) as response:
                self._check_status(response)
                if on_delta is None:
                    return _parse_completion(self._read_body(response), self.model)
                return self._read_stream(response, on_delta)
        except httpx.TimeoutException as exc:
            raise LLMUnavailableError(f"timed out ({_one_line(exc)})") from exc
        except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError) as exc:
            raise LLMUnavailableError(f"connection failed ({_one_line(exc)})") from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise LLMError(f"request failed: {_one_line(exc)}") from exc

    def _check_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        message, filtered = _error_info(self._read_body(response))
        reason = f"HTTP {status}: {message}" if message else f"HTTP {status} {response.reason_phrase}"
        if status in RETRY_STATUSES:
            raise LLMUnavailableError(
                reason, status=status, retry_after=parse_retry_after(response.headers.get("Retry-After"))
            )
        if filtered:
            raise LLMContentFilterError(reason, status=status)
        if status in (401, 403):
            raise LLMAuthError(reason, status=status)
        raise LLMResponseError(reason, status=status)

    def _chunks(self, response: httpx.Response) -> Iterator[bytes]:
        """The body's bytes as they arrive, refusing more than `max_response_bytes`."""
        declared = response.headers.get("Content-Length", "").strip()
        too_big = f"response larger than the limit of {self.max_response_bytes} bytes"
        if declared.isdigit() and int(declared) > self.max_response_bytes:
            raise LLMResponseError(too_big, status=response.status_code)
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_response_bytes:
                raise LLMResponseError(too_big, status=response.status_code)
            yield chunk

    def _read_body(self, response: httpx.Response) -> bytes:
        return b"".join(self._chunks(response))

    def _read_stream(self, response: httpx.Response, on_delta: Delta) -> Completion:
        content_type = response.headers.get("Content-Type", "")
        if "json" in content_type and "event-stream" not in content_type:
            completion = _parse_completion(self._read_body(response), self.model)  # it would not stream
            on_delta(completion.text)
            return completion
        answer = _Answer(model=self.model)
        for data in _sse_data(self._chunks(response)):
            if data.strip() == "[DONE]":
                return answer.completion()
            _take_chunk(answer, _json_object(data.encode(), what="stream chunk"), on_delta)
        if answer.finish_reason is None:
            raise LLMUnavailableError("the stream ended before the answer was finished")
        return answer.completion()


def _parse_completion(raw: bytes, model: str) -> Completion:
    """A whole chat-completion response body as a `Completion`."""
    payload = _json_object(raw, what="response")
    _raise_reported_error(payload)
    choice = _first_choice(payload)
    message = choice.get("message")
    if not isinstance(message, dict):
        raise LLMResponseError("choices[0].message is missing")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise LLMResponseError(f"choices[0].message.content is {type(content).__name__}, not a string")
    if not content and isinstance(message.get("refusal"), str):
        raise LLMContentFilterError(f"the model refused: {message['refusal']}")
    answer = _Answer(model=_text(payload.get("model")) or model, parts=[content or ""])
    answer.finish_reason = _text(choice.get("finish_reason"))
    answer.take_usage(payload.get("usage"))
    return answer.completion()


def _take_chunk(answer: _Answer, chunk: dict[str, Any], on_delta: Delta) -> None:
    """Adds one `chat.completion.chunk` to `answer`, passing its new text to `on_delta`."""
    _raise_reported_error(chunk)
    answer.model = _text(chunk.get("model")) or answer.model
    answer.take_usage(chunk.get("usage"))
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        raise LLMResponseError("stream chunk without a choices list")
    if not choices:
        return  # the usage chunk of stream_options.include_usage
    choice = _first_choice(chunk)
    delta = choice.get("delta") or {}
    content = delta.get("content") if isinstance(delta, dict) else None
    if content is not None and not isinstance(content, str):
        raise LLMResponseError(f"choices[0].delta.content is {type(content).__name__}, not a string")
    if content:
        answer.parts.append(content)
        on_delta(content)
    answer.finish_reason = _text(choice.get("finish_reason")) or answer.finish_reason


def _sse_data(chunks: Iterator[bytes]) -> Iterator[str]:
    """The `data` of each server-sent event (its `data:` lines joined); comments and other fields skipped."""
    buffer = b""
    data: list[str] = []
    for chunk in itertools.chain(chunks, [b"\n\n"]):  # the blank line ends a last, unterminated event
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for raw in lines:
            line = raw.rstrip(b"\r").decode("utf-8", errors="replace")
            if not line and data:
                yield "\n".join(data)
                data = []
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))


def _json_object(raw: bytes, *, what: str) -> dict[str, Any]:
    try:
        payload = json.loads(raw)
    except ValueError:
        raise LLMResponseError(f"{what} is not JSON: {_snippet(raw)}") from None
    if not isinstance(payload, dict):
        raise LLMResponseError(f"{what} is a JSON {type(payload).__name__}, not an object")
    return payload


def _first_choice(payload: dict[str, Any]) -> dict[str, Any]:
    choices = payload.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise LLMResponseError("no choices in the response")
    return choices[0]


def _raise_reported_error(payload: dict[str, Any]) -> None:
    """A 200 response or stream event that carries `{"error": ...}` instead of an answer."""
    if payload.get("error") and not payload.get("choices"):
        message, filtered = _error_info(json.dumps(payload).encode())
        if filtered:
            raise LLMContentFilterError(f"refused: {message}")
        raise LLMUnavailableError(f"the server reported an error: {message}")


def _error_info(raw: bytes) -> tuple[str, bool]:
    """The server's error message (one line) and whether it reports a content filter."""
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = None
    error = payload.get("error", payload) if isinstance(payload, dict) else None
    if isinstance(error, dict):
        inner = error.get("innererror")
        fields = [error.get(key) for key in ("code", "type", "message", "detail")]
        fields.append(inner.get("code") if isinstance(inner, dict) else None)
        found = [str(value) for value in fields if value]
        message = str(error.get("message") or error.get("detail") or ": ".join(found))
    else:
        found = [str(error)] if isinstance(error, str) else []
        message = found[0] if found else _snippet(raw)
    return _snippet(message), bool(FILTER_PATTERN.search(" ".join([*found, message])))


@cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every client of the process (building one loads the CA bundle: ~0.1 s)."""
    return httpx.create_ssl_context()


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _snippet(raw: bytes | str, limit: int = 200) -> str:
    text = " ".join((raw if isinstance(raw, str) else raw.decode("utf-8", errors="replace")).split())
    return (text if len(text) <= limit else text[: limit - 1] + "…") or "(empty)"


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {_snippet(str(exc))}"
