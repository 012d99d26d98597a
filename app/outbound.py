"""Which addresses the server may reach on a stranger's behalf (digest webhooks, a reader's own model).

One rule for every outbound URL a user chose, so a guard against server-side request forgery is not
written twice with different holes: the policies around it (loopback allowed for tests, when to
resolve) stay with their callers.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public(address: IPAddress) -> bool:
    """Reachable on the Internet: not loopback, private, link-local, multicast, reserved or unspecified."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return address.is_global and not address.is_multicast
