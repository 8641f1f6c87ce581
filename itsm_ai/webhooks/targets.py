"""Which addresses a webhook may be sent to: never the service's own network by default (SSRF).

Link-local (cloud metadata at 169.254.169.254), loopback, private, shared (CGNAT), multicast, reserved and
unspecified addresses are refused, also when written as an IPv4-mapped IPv6 address. The check runs when a
subscription or rule is saved and again after DNS resolution just before each delivery, because a name can
resolve to somewhere else later.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

Resolver = Callable[[str, int], Iterable[str]]


class RefusedTarget(ValueError):
    """A webhook URL whose host is, or resolves to, an address the service does not send to."""


def address_refusal(address: str) -> str | None:
    """Why a webhook may not go to this IP address, or None when it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    ):
        if flag:
            return f"{ip} is a {kind} address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"):
        return f"{ip} is a private (shared) address"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return None


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for a host."""
    return sorted({info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise RefusedTarget(f"{url!r} has no host")
    return host, parts.port or (443 if parts.scheme == "https" else 80)


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    # The resolver also reads the old inet_aton forms ("2130706433", "0x7f.1", "0177.0.0.1") as addresses.
    if re.fullmatch(r"(?i)[0-9a-fx.]+", host) and re.match(r"\d", host):
        try:
            return socket.inet_ntoa(socket.inet_aton(host))
        except OSError:
            return None
    return None


def check_url(url: str) -> None:
    """At save time: refuse a URL whose host is a refused IP literal or a local name (no DNS look-up)."""
    host, _ = _host_port(url)
    literal = _literal(host)
    if literal is not None:
        if reason := address_refusal(literal):
            raise RefusedTarget(f"refused target: {reason}")
    elif host.lower() == "localhost" or host.lower().endswith((".localhost", ".local", ".internal")):
        raise RefusedTarget(f"refused target: {host} is a local name")


def resolve_checked(url: str, *, resolver: Resolver = system_resolver) -> list[str]:
    """At delivery time: the host's addresses after DNS, all of them allowed (else RefusedTarget)."""
    check_url(url)
    host, port = _host_port(url)
    literal = _literal(host)
    # A failed look-up (OSError) propagates: it is a transient error to retry, not a refusal.
    addresses = [literal] if literal else list(resolver(host, port))
    if not addresses:
        raise OSError(f"{host} resolves to no address")
    for address in addresses:
        if reason := address_refusal(address):
            raise RefusedTarget(f"refused target: {host} resolves to {reason}")
    return addresses
