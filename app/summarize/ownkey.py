"""A reader's own model: an OpenAI-compatible URL, key and model sent with their requests.

The browser keeps them (static/js/ownkey.js, localStorage) and sends them as `X-LLM-Base-URL`,
`X-LLM-Key` and `X-LLM-Model` with each generation request. The server uses them for that request
only: nothing is stored, and `ReaderLLM` never shows its key (repr, errors, logs).

The URL is one a stranger chose, fetched from inside the server's network: it must be https (or http
on a loopback address where OWN_KEY_ALLOW_LOOPBACK allows it) and its host must resolve to public
addresses only, checked when the request is made (`check_outbound_url`) and again on every connection
the client opens (`PublicOnlyTransport`), so a name that resolves elsewhere a moment later is caught.
Which addresses count as public is app/outbound.py's rule, shared with the digest webhooks.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx2

from app.config import Settings
from app.errors import InvalidQueryError, NoModelError
from app.outbound import IPAddress, is_public
from app.summarize.client import OpenAICompatibleClient
from app.summarize.generate import Bounds, DeadlineTransport

URL_HEADER, KEY_HEADER, MODEL_HEADER = "x-llm-base-url", "x-llm-key", "x-llm-model"
MAX_HEADER = 500
Resolver = Callable[[str, int], list[str]]


@dataclass(frozen=True, slots=True)
class ReaderLLM:
    """One reader's model for one request; the key is left out of repr so no log line can carry it."""

    base_url: str
    model: str
    key: str | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidQueryError(f"your model's host {host} could not be resolved") from exc
    return [str(info[4][0]) for info in infos]


def check_outbound_url(url: str, *, allow_loopback: bool, resolve: Resolver = _resolve) -> str:
    """`url` without a trailing slash when it is safe to call from the server, else InvalidQueryError.

    Safe: https (or http to a loopback address when allowed), no credentials in the URL, and a host
    whose every address is public (not private, link-local, multicast, reserved, or the cloud
    metadata service at 169.254.169.254) — loopback only when allowed.
    """
    checked_addresses(url, allow_loopback=allow_loopback, resolve=resolve)
    return url.strip().rstrip("/")


def checked_addresses(url: str, *, allow_loopback: bool, resolve: Resolver = _resolve) -> list[IPAddress]:
    """The addresses `url`'s host resolves to, every one of them safe (see `check_outbound_url`)."""
    try:  # urlsplit raises for a bracketed host that is no IPv6 address, `.port` for a bad port
        parts = urlsplit(url.strip())
        host, port = parts.hostname or "", parts.port
    except ValueError as exc:
        raise InvalidQueryError(f"your model's URL is malformed: {exc}") from exc
    if parts.scheme not in ("https", "http") or not host:
        raise InvalidQueryError("your model's URL must be an https:// URL")
    if parts.username or parts.password:
        raise InvalidQueryError("your model's URL must not carry credentials: give the key apart")
    port = port or (443 if parts.scheme == "https" else 80)
    addresses = [ipaddress.ip_address(a.split("%")[0]) for a in resolve(host, port)]
    if not addresses:
        raise InvalidQueryError(f"your model's host {host} could not be resolved")
    for address in addresses:
        if not address.is_loopback and not is_public(address):
            raise InvalidQueryError(
                f"your model's host {host} resolves to a private address, which is refused"
            )
    loopback = all(address.is_loopback for address in addresses)
    if any(address.is_loopback for address in addresses) and not allow_loopback:
        raise InvalidQueryError("your model's URL points at this server's own machine, which is refused")
    if parts.scheme == "http" and not loopback:
        raise InvalidQueryError("your model's URL must be an https:// URL")
    return addresses


def reader_llm(
    headers: Mapping[str, str], settings: Settings, *, resolve: Resolver = _resolve
) -> ReaderLLM | None:
    """The reader's own model from the request's headers; None when they sent none."""
    url, key, model = (headers.get(name, "").strip() for name in (URL_HEADER, KEY_HEADER, MODEL_HEADER))
    if not url and not key and not model:
        return None
    if not settings.own_key:
        raise InvalidQueryError("this server does not accept readers' own model keys")
    if not url or not model:
        raise InvalidQueryError(f"your own model needs both {URL_HEADER} and {MODEL_HEADER}")
    if max(len(url), len(key), len(model)) > MAX_HEADER:
        raise InvalidQueryError(f"your own model's settings are limited to {MAX_HEADER} characters each")
    safe = check_outbound_url(url, allow_loopback=settings.own_key_allow_loopback, resolve=resolve)
    return ReaderLLM(base_url=safe, model=model, key=key or None)


class PublicOnlyTransport(httpx2.BaseTransport):
    """Resolves and checks the host of every request again, then connects to the very address checked
    (the name stays in Host and in TLS's server name, so certificates are verified against it): a name
    that resolved to a public address a moment ago and to a private one now ("DNS rebinding") is caught."""

    def __init__(
        self, *, allow_loopback: bool, inner: httpx2.BaseTransport | None = None, resolve: Resolver = _resolve
    ):
        self.allow_loopback, self.inner = allow_loopback, inner or httpx2.HTTPTransport()
        self.resolve = resolve

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        address = checked_addresses(str(url), allow_loopback=self.allow_loopback, resolve=self.resolve)[0]
        request.url = url.copy_with(host=str(address))
        request.extensions = {**request.extensions, "sni_hostname": url.host}
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def generation_client(settings: Settings, reader: ReaderLLM | None, bounds: Bounds) -> OpenAICompatibleClient:
    """The client of one generation under `bounds`: the reader's own model (every connection checked
    again by `PublicOnlyTransport`), else the configured one (NoModelError when there is none)."""
    if reader is not None:
        guard = PublicOnlyTransport(allow_loopback=settings.own_key_allow_loopback)
        return OpenAICompatibleClient.for_reader(reader, settings, transport=DeadlineTransport(bounds, guard))
    client = OpenAICompatibleClient.from_settings(settings, transport=DeadlineTransport(bounds))
    if client is None:
        raise NoModelError("no LLM is configured (LLM_BASE_URL, LLM_MODEL)")
    return client
