"""Talking to a language model: one `LLMClient` protocol, one OpenAI-compatible implementation.

`OpenAICompatibleClient` drives the official `openai` SDK against any server of the chat-completions
protocol (OpenAI, Moonshot/Kimi, DeepSeek, vLLM, Ollama, llama.cpp's server), whole or streamed. The SDK
does the HTTP, the server-sent events and the typing; this module adds what it leaves to callers: the
retry policy shared with arXiv (`app.http_retry`: 429 / 5xx / timeouts / broken connections, honouring
`Retry-After`), a stream retried only while nothing of the answer has been handed to `on_delta` (a half
answer is never duplicated), a bound on response sizes, and errors mapped to `LLMError`s whose message is
one line and never contains the API key.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, Self
from urllib.parse import urlsplit

import httpx2

from app import __version__
from app.errors import LLMAuthError, LLMContentFilterError, LLMError, LLMResponseError, LLMUnavailableError
from app.http_retry import RETRY_STATUSES, http_retrying, parse_retry_after

if TYPE_CHECKING:
    import openai

    from app.config import Settings
    from app.summarize.ownkey import ReaderLLM

logger = logging.getLogger(__name__)

# How providers report a moderation refusal in an error's code, type or message: Azure `content_filter`
# (inner code ResponsibleAIPolicyViolation), OpenAI `content_policy_violation`, Moonshot/Kimi "considered
# high risk", DeepSeek "Content Exists Risk", Alibaba `data_inspection_failed`.
FILTER_PATTERN = re.compile(
    r"content[_ ](filter|policy)|moderation|high risk|exists risk|responsibleai|data_inspection", re.I
)
NO_KEY = "no-key"  # the SDK insists on a key; keyless servers (Ollama, vLLM) get no Authorization header
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


class _BrokeOffError(LLMUnavailableError):
    """A stream failed after part of the answer went to `on_delta`: transient, but not retried here."""


@dataclass(slots=True)
class _Answer:
    """An answer being assembled from a response or from stream chunks."""

    model: str
    parts: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def take(self, payload: object, content: object, finish_reason: object) -> None:
        """The model, usage, text and finish reason of a response or chunk (loosely typed: unvalidated)."""
        self.model = _text(getattr(payload, "model", None)) or self.model
        usage = getattr(payload, "usage", None)
        if usage is not None:
            self.prompt_tokens = _count(getattr(usage, "prompt_tokens", None))
            self.completion_tokens = _count(getattr(usage, "completion_tokens", None))
        if content is not None and not isinstance(content, str):
            raise LLMResponseError(f"choices[0] content is {type(content).__name__}, not a string")
        if content:
            self.parts.append(content)
        self.finish_reason = _text(finish_reason) or self.finish_reason

    def completion(self) -> Completion:
        if self.finish_reason == "content_filter":
            raise LLMContentFilterError("the provider's content filter stopped the answer")
        text = "".join(self.parts)
        if not text.strip():
            raise LLMResponseError(f"empty answer (finish_reason {self.finish_reason})")
        return Completion(text, self.model, self.prompt_tokens, self.completion_tokens, self.finish_reason)


class OpenAICompatibleClient:
    """`LLMClient` on the `openai` SDK for any OpenAI-compatible chat-completions endpoint."""

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
        transport: httpx2.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from openai import OpenAI  # imported on first use: ~0.3 s that `import app.main` need not pay

        self.base_url = base_url.rstrip("/")
        self.model = model
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.retries = retries
        self._api_key = api_key or None
        self._include_usage = True  # dropped for good once a server rejects `stream_options`
        timeouts = httpx2.Timeout(timeout, connect=connect_timeout)

        def bound(response: httpx2.Response) -> None:
            response.stream = _BoundedBody(response.stream, max_response_bytes)  # type: ignore[arg-type]

        self._sdk = OpenAI(
            base_url=self.base_url,
            api_key=self._api_key or NO_KEY,  # never None: the SDK would read OPENAI_API_KEY
            timeout=timeouts,
            max_retries=0,  # the retries are ours (`app.http_retry`), shared with arXiv
            default_headers={"User-Agent": f"coolpapers-selfhosted/{__version__}"},
            http_client=httpx2.Client(
                transport=transport, timeout=timeouts, event_hooks={"response": [bound]}
            ),
        )
        self._retrying = http_retrying(
            name="llm",
            retries=retries,
            backoff=backoff,
            max_wait=max_retry_after,
            retry_if=lambda error: (
                isinstance(error, LLMUnavailableError) and not isinstance(error, _BrokeOffError)
            ),
            sleep=sleep,
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, transport: httpx2.BaseTransport | None = None
    ) -> Self | None:
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
            transport=transport,
        )

    @classmethod
    def for_reader(
        cls, reader: ReaderLLM, settings: Settings, *, transport: httpx2.BaseTransport | None = None
    ) -> Self:
        """A client of one request on a reader's own model (app/summarize/ownkey.py): the shared one is
        untouched, and only the bounds (timeouts, tokens, retries) come from `Settings`."""
        return cls(
            base_url=reader.base_url,
            model=reader.model,
            api_key=reader.key,
            timeout=settings.llm_timeout,
            max_tokens=settings.llm_max_tokens,
            retries=min(settings.llm_retries, 1),  # a stranger's server: one retry, not a siege
            transport=transport,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._sdk.close()

    def complete(self, messages: Messages, *, max_tokens: int | None = None) -> Completion:
        """The whole answer to `messages`; raises an `LLMError` when there is none."""

        def attempt() -> Completion:
            with self._sdk_errors():
                response = self._sdk.chat.completions.create(
                    **self._request(messages, max_tokens, stream=False)
                )
                return _whole(response, self.model)

        with self._errors():
            completion: Completion = self._retrying(attempt)
            return completion

    def stream(self, messages: Messages, *, on_delta: Delta, max_tokens: int | None = None) -> Completion:
        """The answer to `messages`, each non-empty piece passed to `on_delta` as it arrives."""
        delivered = False

        def forward(text: str) -> None:
            nonlocal delivered
            delivered = True
            on_delta(text)

        def attempt() -> Completion:
            try:
                return self._stream_once(messages, max_tokens, forward)
            except LLMUnavailableError as exc:
                if delivered:  # a retry would hand the reader the beginning of the answer twice
                    message = f"the answer broke off after it had begun, not retried: {exc}"
                    raise _BrokeOffError(message, status=exc.status) from exc
                raise

        with self._errors():
            completion: Completion = self._retrying(attempt)
            return completion

    def _stream_once(self, messages: Messages, max_tokens: int | None, on_delta: Delta) -> Completion:
        request = self._request(messages, max_tokens, stream=True)
        try:
            return self._read_stream(request, on_delta)
        except LLMResponseError as exc:
            if "stream_options" not in request or "stream_options" not in str(exc) or exc.status != 400:
                raise
            logger.info("llm server rejects stream_options: asking without", extra={"model": self.model})
            self._include_usage = False
            return self._read_stream(self._request(messages, max_tokens, stream=True), on_delta)

    def _read_stream(self, request: dict[str, Any], on_delta: Delta) -> Completion:
        answer = _Answer(model=self.model)
        with self._sdk_errors(), self._sdk.chat.completions.create(**request) as chunks:
            for chunk in chunks:
                choices = getattr(chunk, "choices", None)
                if not isinstance(choices, list):
                    raise LLMResponseError("stream chunk without a choices list")
                choice = _first_choice(choices) if choices else None  # none: the usage chunk
                delta = getattr(choice, "delta", None)
                before = len(answer.parts)
                answer.take(chunk, getattr(delta, "content", None), getattr(choice, "finish_reason", None))
                if len(answer.parts) > before:
                    on_delta(answer.parts[-1])
        if answer.finish_reason is None:
            raise LLMUnavailableError("the stream ended before the answer was finished")
        return answer.completion()

    def _request(self, messages: Messages, max_tokens: int | None, *, stream: bool) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(message) for message in messages],
            "max_tokens": max_tokens or self.max_tokens,
            "stream": stream,
        }
        if self.temperature is not None:
            request["temperature"] = self.temperature
        if stream and self._include_usage:
            request["stream_options"] = {"include_usage": True}
        headers: dict[str, Any] = {"Accept": "text/event-stream"} if stream else {}
        if not self._api_key:
            from openai import omit

            headers["Authorization"] = omit
        if headers:
            request["extra_headers"] = headers
        return request

    @contextmanager
    def _sdk_errors(self) -> Iterator[None]:
        """One attempt's SDK and transport failures as `LLMError`s (`LLMUnavailableError`: try again)."""
        import openai

        try:
            yield
        except openai.APIStatusError as exc:
            raise _status_error(exc) from exc
        except openai.APITimeoutError as exc:
            raise LLMUnavailableError(f"timed out ({_one_line(exc.__cause__ or exc)})") from exc
        except openai.APIConnectionError as exc:
            if isinstance(exc.__cause__, LLMError):  # the size bound, raised while the SDK read the body
                raise exc.__cause__ from None
            raise LLMUnavailableError(f"connection failed ({_one_line(exc.__cause__ or exc)})") from exc
        except openai.APIError as exc:  # an `{"error": ...}` event in a stream
            raise _reported_error(exc.body or exc.message) from exc
        except httpx2.TimeoutException as exc:  # while a stream is read, the SDK lets these through
            raise LLMUnavailableError(f"timed out ({_one_line(exc)})") from exc
        except httpx2.TransportError as exc:
            raise LLMUnavailableError(f"connection failed ({_one_line(exc)})") from exc
        except ValueError as exc:  # a stream event that is not JSON
            raise LLMResponseError(f"stream chunk is not JSON: {_snippet(str(exc))}") from exc

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Gives every `LLMError` leaving the client one line naming the endpoint, without the key."""
        try:
            yield
        except LLMError as exc:
            text = " ".join(f"LLM {self.model} at {urlsplit(self.base_url).netloc}: {exc}".split())
            if self._api_key:
                text = text.replace(self._api_key, "[redacted]")
            exc.args = (text if len(text) <= 500 else text[:499] + "…",)
            raise


def _whole(response: object, model: str) -> Completion:
    """A whole chat-completion response (as the SDK parsed it, unvalidated) as a `Completion`."""
    if isinstance(response, str | bytes):  # the SDK hands back a body it could not read as JSON
        raise LLMResponseError(f"response is not JSON: {_snippet(response)}")
    if isinstance(response, list | int | float | bool):
        raise LLMResponseError(f"response is a JSON {type(response).__name__}, not an object")
    error = getattr(response, "error", None)
    if error and not getattr(response, "choices", None):  # a 200 carrying `{"error": ...}`
        raise _reported_error(error)
    choice = _first_choice(getattr(response, "choices", None))
    message = getattr(choice, "message", None)
    if message is None:
        raise LLMResponseError("choices[0].message is missing")
    content = getattr(message, "content", None)
    refusal = getattr(message, "refusal", None)
    if not content and isinstance(refusal, str) and refusal:
        raise LLMContentFilterError(f"the model refused: {refusal}")
    answer = _Answer(model=model)
    answer.take(response, content, getattr(choice, "finish_reason", None))
    return answer.completion()


def _first_choice(choices: object) -> object:
    if not isinstance(choices, list) or not choices or isinstance(choices[0], str | int | float | None):
        raise LLMResponseError("no choices in the response")
    return choices[0]


def _status_error(exc: openai.APIStatusError) -> LLMError:
    """An HTTP error answer as the `LLMError` it stands for."""
    status = exc.status_code
    message, filtered = _error_info(exc.body)
    reason = f"HTTP {status}: {message}" if message else f"HTTP {status} {exc.response.reason_phrase}"
    if status in RETRY_STATUSES:
        retry_after = parse_retry_after(exc.response.headers.get("Retry-After"))
        return LLMUnavailableError(reason, status=status, retry_after=retry_after)
    if filtered:
        return LLMContentFilterError(reason, status=status)
    if status in (401, 403):
        return LLMAuthError(reason, status=status)
    return LLMResponseError(reason, status=status)


def _reported_error(error: object) -> LLMError:
    """An error the server reported in a 200 answer or a stream event: a refusal, else transient."""
    message, filtered = _error_info(error)
    if filtered:
        return LLMContentFilterError(f"refused: {message}")
    return LLMUnavailableError(f"the server reported an error: {message}")


def _error_info(error: object) -> tuple[str, bool]:
    """The server's error message (one line) and whether it reports a content filter."""
    if isinstance(error, Mapping):
        inner = error.get("innererror")
        fields = [error.get(key) for key in ("code", "type", "message", "detail")]
        fields.append(inner.get("code") if isinstance(inner, Mapping) else None)
        found = [str(value) for value in fields if value]
        message = str(error.get("message") or error.get("detail") or ": ".join(found))
    else:
        found = [str(error)] if error else []
        message = found[0] if found else ""
    return _snippet(message) if message else "", bool(FILTER_PATTERN.search(" ".join([*found, message])))


class _BoundedBody(httpx2.SyncByteStream):
    """A response body refusing more than `limit` bytes: the SDK reads whatever a server sends."""

    def __init__(self, body: httpx2.SyncByteStream, limit: int) -> None:
        self._body = body
        self._limit = limit

    def __iter__(self) -> Iterator[bytes]:
        size = 0
        for chunk in self._body:
            size += len(chunk)
            if size > self._limit:
                raise LLMResponseError(f"response larger than the limit of {self._limit} bytes")
            yield chunk

    def close(self) -> None:
        self._body.close()


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _snippet(raw: bytes | str, limit: int = 200) -> str:
    text = " ".join((raw if isinstance(raw, str) else raw.decode("utf-8", errors="replace")).split())
    return (text if len(text) <= limit else text[: limit - 1] + "…") or "(empty)"


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {_snippet(str(exc))}"
