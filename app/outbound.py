"""Which addresses the server may reach on a stranger's behalf (digest webhooks, a reader's own model).

One rule for every outbound URL a user chose, so a guard against server-side request forgery is not
written twice with different holes: the policies around it (loopback allowed for tests, when to
resolve) stay with their callers.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


# IPv6 forms that carry an IPv4 address Python calls global whatever that address is: NAT64's well-known
# prefix (64:ff9b::a9fe:a9fe reaches 169.254.169.254 through a NAT64 gateway) is judged by the address
# it carries; IPv4-compatible (::127.0.0.1), IPv4-translated (::ffff:0:7f00:1), local-use NAT64 and
# Teredo forms are refused outright (no public server needs them).
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_REFUSED = tuple(
    ipaddress.IPv6Network(net) for net in ("::/96", "::ffff:0:0:0/96", "64:ff9b:1::/48", "2001::/32")
)


def is_public(address: IPAddress) -> bool:
    """Reachable on the Internet: not loopback, private, link-local, multicast, reserved or unspecified,
    nor an IPv6 form carrying such an IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        carried = address.ipv4_mapped or address.sixtofour  # ::ffff:127.0.0.1, 2002:7f00:1::
        if carried is None and address in _NAT64:
            carried = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if carried is not None:
            return is_public(carried)
        if any(address in net for net in _REFUSED):
            return False
    return address.is_global and not address.is_multicast
