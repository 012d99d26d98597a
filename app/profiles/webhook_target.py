"""Where a digest webhook may point: public addresses only (a guard against server-side request forgery).

A reader chooses the webhook URL, and the server POSTs to it: without a guard, a profile could make
the server reach its own loopback services, the LAN, or a cloud's metadata endpoint (169.254.169.254).
The URL is checked twice: when a profile saves it (an address written in the URL, or a name that is
loopback by definition, is refused at once) and at delivery, where the name is resolved and the POST
goes to the very address that was checked (a name that resolves to a public address when saved and to
a private one later, "DNS rebinding", is caught there). `WEBHOOK_ALLOW_PRIVATE=true` lifts the guard,
for tests on loopback and for self-hosters whose hooks live on their own network.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.errors import InvalidQueryError
from app.outbound import is_public

_NAME_RE = re.compile(r"(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*")
_LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class PrivateTargetError(InvalidQueryError):
    """A webhook URL that points at a loopback, private, link-local or otherwise non-public address."""


@dataclass(frozen=True, slots=True)
class Target:
    """A webhook URL's parts: where to connect, and the name to send as Host and TLS server name."""

    scheme: str
    host: str
    port: int


def parse_target(url: str) -> Target:
    try:  # urlsplit raises for a bracketed host that is no IPv6 address, `.port` for a bad port
        parts = urlsplit(url)
        hostname, port = parts.hostname, parts.port
    except ValueError as exc:
        raise InvalidQueryError(f"digest.webhook_url: {exc}") from exc
    if parts.scheme not in ("http", "https") or not hostname:
        raise InvalidQueryError("digest.webhook_url: an http(s) URL with a host")
    host = hostname.lower().rstrip(".")
    if not _is_host(host):
        raise InvalidQueryError(f"digest.webhook_url: {host[:60]!r} is not a host name or address")
    return Target(parts.scheme, host, port or (443 if parts.scheme == "https" else 80))


def _is_host(host: str) -> bool:
    """An IP address, or a DNS name (international names in their ASCII form)."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        ascii_name = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return _NAME_RE.fullmatch(ascii_name) is not None


def check_saved_url(url: str, *, allow_private: bool) -> None:
    """At save: refuse an address literal that is not public, and names that are loopback by definition.

    Other names are not resolved here (one that does not resolve today may tomorrow): delivery resolves.
    """
    target = parse_target(url)
    if allow_private:
        return
    host = target.host.strip("[]")
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        raise PrivateTargetError("digest.webhook_url: loopback addresses are not allowed")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return
    if not is_public(literal):
        raise PrivateTargetError(f"digest.webhook_url: {host} is not a public address")


def resolve_public(target: Target, *, allow_private: bool) -> str:
    """The address to connect to: the first one the name resolves to, every one of them public.

    PrivateTargetError when any is not (a name that also resolves to a private address is refused:
    which one a connection would take is the resolver's choice); OSError when the name does not resolve.
    """
    host = target.host.strip("[]")
    infos = socket.getaddrinfo(host, target.port, type=socket.SOCK_STREAM)
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise OSError(f"{host} has no address")
    if not allow_private:
        refused = [str(a) for a in addresses if not is_public(a)]
        if refused:
            raise PrivateTargetError(f"webhook host {host} resolves to a non-public address ({refused[0]})")
    return str(addresses[0])


def pinned_url(url: str, address: str) -> str:
    """The URL with its host replaced by the address checked, so the connection cannot go elsewhere."""
    parts = urlsplit(url)
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    return parts._replace(netloc=netloc).geturl()
