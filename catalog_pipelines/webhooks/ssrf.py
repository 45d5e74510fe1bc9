"""SSRF guard: webhook URLs must reach only global addresses (docs/maintainers.md, Webhooks).

Checked twice:
- when an endpoint is added or its URL changes (`check_url`: resolve every address the host
  has, refuse if any is non-global), so the merchant gets a clear error;
- at connect time for every request (`GuardedAdapter`): the peer address of the socket that was
  actually connected is checked, so DNS rebinding, numeric host spellings that only the
  resolver understands, and proxies cannot get around the first check. Redirects are never
  followed by the worker, and the session ignores proxy environment variables.

`CATALOG_ALLOW_PRIVATE_WEBHOOK_URLS=1` turns both checks off (tests and the local demo).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

ALLOW_ENV = "CATALOG_ALLOW_PRIVATE_WEBHOOK_URLS"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class UnsafeURLError(ValueError):
    """A webhook URL (or the address it connected to) that is not allowed."""


def private_allowed() -> bool:
    return os.environ.get(ALLOW_ENV, "").strip().lower() in ("1", "true", "yes")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries: mapped, compatible, NAT64, 6to4 and Teredo."""
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    packed = ip.packed
    if any(ip in net for net in _NAT64) or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        found.append(ipaddress.IPv4Address(packed[-4:]))
    return found


def is_forbidden(ip: IPAddress) -> bool:
    """True for every address a webhook must not reach: anything not global, and any IPv6
    form that embeds a non-global IPv4 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return True
        if any(is_forbidden(v4) for v4 in embedded_ipv4(ip)):
            return True
    return not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified


def parse_ip(text: str) -> IPAddress | None:
    """An IP literal in any spelling a resolver accepts: dotted, `[v6]`, `2130706433`,
    `0x7f000001`, `0177.0.0.1`, `127.1`. None for a host name."""
    host = text.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host) and host[0].isdigit():
        try:  # the BSD inet_aton forms: decimal, hex, octal and shortened dotted quads
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def resolve(host: str, port: int) -> list[IPAddress]:
    literal = parse_ip(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeURLError(f"cannot resolve {host!r}: {exc.strerror}") from exc
    except UnicodeError:  # the IDNA codec refuses the name before any lookup
        raise UnsafeURLError(f"{host!r} is not a valid host name") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def check_url(url: str) -> str:
    """Validate a webhook URL; return it unchanged or raise UnsafeURLError."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeURLError(f"invalid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise UnsafeURLError("webhook URLs must be http:// or https://")
    if not parts.hostname:
        raise UnsafeURLError("webhook URL has no host")
    if parts.username or parts.password:
        raise UnsafeURLError("webhook URLs must not carry credentials")
    if private_allowed():
        return url
    for ip in resolve(parts.hostname, port):
        if is_forbidden(ip):
            raise UnsafeURLError(
                f"{parts.hostname} resolves to non-global address {ip}; set {ALLOW_ENV}=1 to allow it"
            )
    return url


def check_peer(sock: socket.socket) -> None:
    """Refuse a connected socket whose peer is not global (closing it)."""
    if private_allowed():
        return
    peer = sock.getpeername()[0]
    ip = ipaddress.ip_address(str(peer).split("%", 1)[0])
    if is_forbidden(ip):
        sock.close()
        raise UnsafeURLError(f"refused to connect to non-global address {ip}")


class _GuardedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        check_peer(sock)
        return sock


class _GuardedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        check_peer(sock)
        return sock


class _GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose every new connection is checked by `check_peer`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPConnectionPool,
            "https": _GuardedHTTPSConnectionPool,
        }

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise UnsafeURLError("webhook deliveries never go through a proxy")
