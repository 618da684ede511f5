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
    if not _within(peer, trusted):
        return peer
    address = peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if not _is_address(hop):  # a malformed entry: the last hop a trusted proxy vouched for stands
            break
        address = hop
        if not _within(hop, trusted):
            break
    return address


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _within(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
