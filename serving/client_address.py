"""The address a request came from, which keys the rate limit when no JWT names the caller.

Behind an ingress every request's peer is the proxy, so every static-token caller would share one
bucket and one caller would throttle all. `X-Forwarded-For` names the client, but any client can send
that header: it is believed only when the peer is in `ML_PLATFORM_TRUSTED_PROXIES` (CIDRs), and read
from the right. Each trusted hop appends the address it saw, so the rightmost address that is not a
trusted proxy is the client; whatever a client wrote itself sits left of it and is never read.
"""

from __future__ import annotations

import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(text: str) -> tuple[Network, ...]:
    """`10.0.0.0/8, 192.168.1.7`: a ValueError names the entry that is not a network."""
    networks = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"ML_PLATFORM_TRUSTED_PROXIES: {part!r} is not an address or a CIDR") from None
    return tuple(networks)


def client_address(peer: str, forwarded_for: str, trusted: tuple[Network, ...]) -> str:
    if not trusted or not _trusted(_parsed(peer), trusted):  # no proxies configured: nothing parsed per request
        return peer
    address = peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        ip = _parsed(hop)
        if ip is None:  # a malformed entry: the last hop a trusted proxy vouched for stands
            break
        address = hop
        if not _trusted(ip, trusted):
            break
    return address


def _parsed(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None, trusted: tuple[Network, ...]) -> bool:
    return ip is not None and any(ip in network for network in trusted)
