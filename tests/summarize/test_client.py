"""OpenAICompatibleClient against FakeLLMServer: real HTTP on loopback, whole and streamed answers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import pytest
from pydantic import SecretStr

from app.config import Settings
from app.errors import LLMAuthError, LLMContentFilterError, LLMError, LLMResponseError, LLMUnavailableError
from app.summarize.client import Completion, LLMClient, OpenAICompatibleClient
from tests.llm_server import FakeLLMServer, Fault

QUESTION = [
    {"role": "system", "content": "You answer questions about papers."},
    {"role": "user", "content": "What problem does this paper try to solve?"},
]
ANSWER = "Answer to: What problem does this paper try to solve?"
KEY = "sk-test-0123456789secret"


@pytest.fixture
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def delays() -> list[float]:
    return []


def make_client(
    llm: FakeLLMServer, delays: list[float] | None = None, **overrides: Any
) -> OpenAICompatibleClient:
    options: dict[str, Any] = {
        "base_url": llm.base_url + "/",
        "model": "kimi-test",
        "timeout": 5.0,
        "backoff": 0.01,
    }
    if delays is not None:
        options["sleep"] = delays.append
    return OpenAICompatibleClient(**(options | overrides))


def collect(client: OpenAICompatibleClient, deltas: list[str], **kwargs: Any) -> Completion:
    return client.stream(QUESTION, on_delta=deltas.append, **kwargs)


def test_complete_returns_text_usage_and_finish_reason(llm: FakeLLMServer) -> None:
    with make_client(llm, max_tokens=321) as client:
        completion = client.complete(QUESTION)
    assert completion == Completion(ANSWER, "kimi-test", 13, 10, "stop")
    [request] = llm.chat_requests
    assert request.path == "/v1/chat/completions"
    assert request.body == {
        "model": "kimi-test",
        "messages": QUESTION,
        "max_tokens": 321,
        "stream": False,
        "temperature": 0.3,
    }
    assert llm.generations == 1


def test_client_satisfies_the_protocol(llm: FakeLLMServer) -> None:
    with make_client(llm) as client:
        typed: LLMClient = client
        assert typed.complete(QUESTION, max_tokens=50).text == ANSWER
    assert (llm.chat_requests[0].body or {})["max_tokens"] == 50


def test_stream_delivers_deltas_in_order_as_they_arrive(llm: FakeLLMServer) -> None:
    llm.chunk_delay = 0.05
    arrivals: list[tuple[float, str]] = []
    with make_client(llm) as client:
        completion = client.stream(QUESTION, on_delta=lambda text: arrivals.append((time.monotonic(), text)))
    deltas = [text for _, text in arrivals]
    assert deltas == llm.pieces(ANSWER) and len(deltas) == 10
    assert "".join(deltas) == completion.text == ANSWER
    assert arrivals[-1][0] - arrivals[0][0] >= 0.3  # handed over one by one, not after the whole answer
    assert (completion.prompt_tokens, completion.completion_tokens) == (13, 10)
    body = llm.chat_requests[0].body or {}
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert llm.chat_requests[0].headers["accept"] == "text/event-stream"


def test_reasoning_content_is_ignored() -> None:
    with FakeLLMServer(reasoning="Let me think step by step...") as llm, make_client(llm) as client:
        deltas: list[str] = []
        assert collect(client, deltas).text == ANSWER
        assert "".join(deltas) == ANSWER
        assert client.complete(QUESTION).text == ANSWER


def test_stream_asks_again_without_stream_options_when_rejected() -> None:
    with FakeLLMServer(reject_stream_options=True) as llm, make_client(llm) as client:
        deltas: list[str] = []
        completion = collect(client, deltas)
        assert completion.text == ANSWER and completion.completion_tokens == 0  # no usage without the option
        collect(client, [])
        bodies = [request.body or {} for request in llm.chat_requests]
    assert ["stream_options" in body for body in bodies] == [True, False, False]  # remembered


def test_429_retry_after_is_honoured_then_succeeds() -> None:
    with FakeLLMServer([Fault.status(429, retry_after=1)]) as llm, make_client(llm) as client:
        assert client.complete(QUESTION).text == ANSWER
        first, second = llm.chat_requests
    assert second.time - first.time >= 0.95


def test_retry_after_is_capped_by_max_retry_after(delays: list[float]) -> None:
    llm = FakeLLMServer([Fault.status(503, retry_after=3600)])
    with llm, make_client(llm, delays, max_retry_after=0.5) as client:
        assert client.complete(QUESTION).text == ANSWER
    assert delays == [0.5]


@pytest.mark.parametrize("status", [500, 502, 504])
def test_5xx_is_retried_with_backoff_then_succeeds(status: int, delays: list[float]) -> None:
    with FakeLLMServer([Fault.status(status), Fault.status(status)]) as llm:
        with make_client(llm, delays, backoff=0.2) as client:
            deltas: list[str] = []
            assert collect(client, deltas).text == ANSWER == "".join(deltas)
        assert len(llm.chat_requests) == 3
    assert 0.2 <= delays[0] <= 0.4 and 0.4 <= delays[1] <= 0.6  # exponential, with jitter


def test_dropped_connection_is_retried(delays: list[float]) -> None:
    with FakeLLMServer([Fault.disconnect()]) as llm, make_client(llm, delays) as client:
        assert client.complete(QUESTION).text == ANSWER
        assert len(llm.chat_requests) == 2


def test_timeouts_give_up_after_the_retries() -> None:
    with FakeLLMServer([Fault.delay(2)] * 3) as llm, make_client(llm, timeout=0.5, retries=2) as client:
        started = time.monotonic()
        with pytest.raises(LLMUnavailableError, match=r"gave up after 3 attempt\(s\): timed out") as caught:
            client.complete(QUESTION)
        assert time.monotonic() - started < 2.5
        assert len(llm.chat_requests) == 3
    assert caught.value.transient and caught.value.status is None
    assert "\n" not in str(caught.value)


def test_persistent_503_reports_status_and_retry_after(delays: list[float]) -> None:
    faults = [Fault.status(503, retry_after=2, message="overloaded")] * 4
    with FakeLLMServer(faults) as llm, make_client(llm, delays) as client:
        with pytest.raises(LLMUnavailableError, match="HTTP 503: overloaded") as caught:
            client.complete(QUESTION)
        assert len(llm.chat_requests) == 4  # 1 + 3 retries
    assert (caught.value.status, caught.value.retry_after) == (503, 2.0)
    assert delays == [2.0, 2.0, 2.0]


def test_a_stream_failing_before_any_delta_is_retried(delays: list[float]) -> None:
    with FakeLLMServer([Fault.hang_mid_stream(after_chunks=0, seconds=5)]) as llm:
        with make_client(llm, delays, timeout=0.3) as client:
            deltas: list[str] = []
            assert collect(client, deltas).text == ANSWER == "".join(deltas)
        assert len(llm.chat_requests) == 2


def test_a_stream_failing_after_deltas_is_not_retried(delays: list[float]) -> None:
    with FakeLLMServer([Fault.hang_mid_stream(after_chunks=2, seconds=5)]) as llm:
        with make_client(llm, delays, timeout=0.3) as client:
            deltas: list[str] = []
            with pytest.raises(LLMUnavailableError, match="broke off after it had begun") as caught:
                collect(client, deltas)
        assert deltas == llm.pieces(ANSWER)[:2]
        assert len(llm.chat_requests) == 1 and delays == []
    assert caught.value.transient


@pytest.mark.parametrize("streamed", [False, True])
def test_malformed_body_is_a_response_error_without_retry(streamed: bool) -> None:
    with FakeLLMServer([Fault.malformed()]) as llm, make_client(llm) as client:
        with pytest.raises(LLMResponseError, match="not JSON") as caught:
            collect(client, []) if streamed else client.complete(QUESTION)
        assert len(llm.chat_requests) == 1
    assert not caught.value.transient and "\n" not in str(caught.value)


@pytest.mark.parametrize("streamed", [False, True])
def test_finish_reason_content_filter_is_refused(streamed: bool) -> None:
    with FakeLLMServer([Fault.content_filter()]) as llm, make_client(llm) as client:
        with pytest.raises(LLMContentFilterError, match="content filter"):
            collect(client, []) if streamed else client.complete(QUESTION)
        assert len(llm.chat_requests) == 1


@pytest.mark.parametrize(
    "error",
    [
        {
            "message": "The response was filtered",
            "code": "content_filter",
            "innererror": {"code": "ResponsibleAIPolicyViolation"},
        },
        {
            "message": "The request was rejected because it was considered high risk",
            "type": "invalid_request_error",
        },
        {"message": "Your request was rejected by our safety system.", "code": "content_policy_violation"},
    ],
    ids=["azure", "moonshot", "openai"],
)
def test_provider_moderation_errors_are_content_filter_errors(error: dict[str, Any]) -> None:
    llm = FakeLLMServer([Fault.status(400, error=error)])
    with llm, make_client(llm) as client, pytest.raises(LLMContentFilterError) as caught:
        client.complete(QUESTION)
    assert caught.value.status == 400 and error["message"] in str(caught.value)


def test_401_is_an_auth_error_without_retry(delays: list[float]) -> None:
    with FakeLLMServer([Fault.auth()]) as llm, make_client(llm, delays) as client:
        with pytest.raises(LLMAuthError, match="HTTP 401: Incorrect API key provided") as caught:
            client.complete(QUESTION)
        assert len(llm.chat_requests) == 1 and delays == []
    assert caught.value.status == 401 and not caught.value.transient


@pytest.mark.parametrize("status", [400, 404, 422])
def test_client_errors_carry_the_server_message(status: int) -> None:
    message = "The model `kimi-test` does not exist or you do not have access to it."
    with FakeLLMServer([Fault.status(status, message=message)]) as llm, make_client(llm) as client:
        with pytest.raises(LLMResponseError) as caught:
            client.complete(QUESTION)
        assert len(llm.chat_requests) == 1
    assert caught.value.status == status
    assert (
        str(caught.value) == f"LLM kimi-test at {llm.url.removeprefix('http://')}: HTTP {status}: {message}"
    )


def test_authorization_header_only_with_a_key(llm: FakeLLMServer) -> None:
    with make_client(llm) as client:
        client.complete(QUESTION)
    with make_client(llm, api_key=KEY) as client:
        collect(client, [])
    without, with_key = llm.chat_requests
    assert "authorization" not in without.headers
    assert with_key.headers["authorization"] == f"Bearer {KEY}"


def test_the_key_never_appears_in_errors(delays: list[float]) -> None:
    echo = f"Incorrect API key provided: {KEY}. You can find your API key at https://example.org."
    faults = [
        Fault.status(401, message=echo),
        Fault.status(400, message=echo),
        *[Fault.status(500, message=echo)] * 4,
    ]
    with FakeLLMServer(faults) as llm, make_client(llm, delays, api_key=KEY) as client:
        errors: list[LLMError] = []
        for expected in (LLMAuthError, LLMResponseError, LLMUnavailableError):
            with pytest.raises(expected) as caught:
                client.complete(QUESTION)
            errors.append(caught.value)
        assert KEY not in repr(client)
    assert all(KEY not in str(error) and "[redacted]" in str(error) for error in errors)


def test_a_server_expecting_a_key_refuses_a_wrong_one() -> None:
    with FakeLLMServer(api_key=KEY) as llm:
        with make_client(llm, api_key="sk-wrong") as client, pytest.raises(LLMAuthError) as caught:
            client.complete(QUESTION)
        assert "sk-wrong" not in str(caught.value)
        with make_client(llm, api_key=KEY) as client:
            assert client.complete(QUESTION).text == ANSWER


@pytest.mark.parametrize("streamed", [False, True])
def test_empty_answer_is_a_response_error(streamed: bool) -> None:
    llm = FakeLLMServer([""])
    with llm, make_client(llm) as client, pytest.raises(LLMResponseError, match="empty answer"):
        collect(client, []) if streamed else client.complete(QUESTION)


@pytest.mark.parametrize("streamed", [False, True])
def test_response_larger_than_the_limit_is_refused(streamed: bool) -> None:
    llm = FakeLLMServer(["word " * 2000])
    too_big = "larger than the limit of 5000 bytes"
    with (
        llm,
        make_client(llm, max_response_bytes=5000) as client,
        pytest.raises(LLMResponseError, match=too_big),
    ):
        collect(client, []) if streamed else client.complete(QUESTION)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"id": "x"}', "no choices"),
        (b"[1, 2]", "JSON list, not an object"),
        (b'{"choices": [{"message": {"content": ["a"]}, "finish_reason": "stop"}]}', "content is list"),
        (b'{"choices": [{"finish_reason": "stop"}]}', "message is missing"),
    ],
)
def test_malformed_completions_are_response_errors(body: bytes, reason: str) -> None:
    headers = {"Content-Type": "application/json"}
    transport = httpx2.MockTransport(lambda request: httpx2.Response(200, headers=headers, content=body))
    client = OpenAICompatibleClient(base_url="http://llm.test/v1", model="m", transport=transport)
    with client, pytest.raises(LLMResponseError, match=reason):
        client.complete(QUESTION)


def test_sse_framing_variants_are_understood() -> None:
    """Comments, CRLF line ends, a usage-only chunk, no `[DONE]` after a finish_reason."""
    events = [
        b": keep-alive\r\n\r\n",
        b'data: {"model": "served", "choices": [{"delta": {"role": "assistant"}}]}\r\n\r\n',
        b'data: {"choices": [{"delta": {"content": "Hel"}}]}\n\ndata: {"choices": [{"delta": {"content": "lo"}}]}\n\n',
        b'data:{"choices": [{"delta": {}, "finish_reason": "length"}]}\n\n',
        b'data: {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}\n\n',
    ]
    headers = {"Content-Type": "text/event-stream"}
    transport = httpx2.MockTransport(
        lambda request: httpx2.Response(200, headers=headers, content=iter(events))
    )
    deltas: list[str] = []
    with OpenAICompatibleClient(base_url="http://llm.test/v1", model="m", transport=transport) as client:
        completion = collect(client, deltas)
    assert deltas == ["Hel", "lo"]
    assert completion == Completion("Hello", "served", 3, 2, "length")


def test_models_endpoint_lists_the_model(llm: FakeLLMServer) -> None:
    response = httpx.get(f"{llm.base_url}/models")
    assert response.status_code == 200
    assert [model["id"] for model in response.json()["data"]] == ["fake-llm"]


def test_from_settings_needs_a_base_url_and_a_model(llm: FakeLLMServer) -> None:
    assert (
        OpenAICompatibleClient.from_settings(Settings(_env_file=None, llm_base_url=None, llm_model="m"))
        is None
    )
    assert (
        OpenAICompatibleClient.from_settings(
            Settings(_env_file=None, llm_base_url=llm.base_url, llm_model=None)
        )
        is None
    )
    settings = Settings(
        _env_file=None,
        llm_base_url=llm.base_url,
        llm_model="kimi-k2",
        llm_api_key=SecretStr(KEY),
        llm_max_tokens=64,
        llm_retries=0,
    )
    client = OpenAICompatibleClient.from_settings(settings)
    assert client is not None
    with client:
        assert (client.model, client.max_tokens, client.retries) == ("kimi-k2", 64, 0)
        assert client.complete(QUESTION).text == ANSWER
    assert llm.chat_requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_the_server_answers_concurrent_requests_and_counts_generations() -> None:
    with FakeLLMServer([Fault.delay(0.3)], first_token_delay=0.3) as llm, make_client(llm) as client:
        results: list[str] = []
        threads = [
            threading.Thread(target=lambda: results.append(collect(client, []).text)) for _ in range(3)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=5)
        assert time.monotonic() - started < 0.9  # side by side, not one after the other
        assert results == [ANSWER] * 3
        assert (llm.started, llm.generations, len(llm.chat_requests)) == (3, 3, 3)
