"""Where an alert webhook may point: public addresses, plus the networks a setting allows.

A webhook is a request the *server* makes, to a URL a deployer typed. Pointed at
``http://169.254.169.254/...`` (a cloud's metadata service), a database on the private
network or the server's own loopback, it becomes a way into places the deployer cannot
reach (server-side request forgery). So a webhook's address must be globally routable,
unless it falls in a network listed in ``DEPLOYKIT_WEBHOOK_ALLOW_NETWORKS``
(``Settings.webhook_allow_networks``, e.g. ``10.20.0.0/16,127.0.0.1/32``).

Two checks, both before any packet leaves:

- when a rule is saved (:func:`check_webhook_url`): an IP literal or a ``localhost``
  name that is refused fails the rule with a 422 naming the ``webhook`` field;
- when an alert is sent (:func:`resolve_webhook`): the host name is resolved, every
  address checked, and the sender connects to the address that was checked, never
  resolving again, so a name that answers differently the second time (DNS
  rebinding) gains nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from deploykit.errors import InvalidInputError

__all__ = [
    "ALLOW_SETTING",
    "WebhookTarget",
    "check_webhook_url",
    "refusal",
    "resolve_webhook",
]

ALLOW_SETTING = "DEPLOYKIT_WEBHOOK_ALLOW_NETWORKS"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class WebhookTarget:
    """A checked destination: connect to ``ip``:``port``, say ``host`` in Host and TLS."""

    ip: str
    port: int
    host: str


def refusal(ip: Address, allow: Sequence[str] = ()) -> str | None:
    """Why a webhook may not reach ``ip`` ("link-local", "private"...), None if it may."""
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:  # ::ffff:169.254.169.254 is 169.254.169.254
        ip = mapped
    if any(ip in ipaddress.ip_network(net) for net in allow):
        return None
    for kind, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    ):
        if flag:
            return kind
    return None if ip.is_global else _NOT_GLOBAL


_NOT_GLOBAL = "not globally routable"


def _describe(host: str, why: str) -> str:
    if why == _NOT_GLOBAL:
        return f"{host} is {why}"
    article = "an" if why[:1] in "aeiou" else "a"
    return f"{host} is {article} {why} address"


def _fail(url: object, reason: str) -> InvalidInputError:
    return InvalidInputError(
        f"The 'webhook' parameter of AlertRule must be an http(s) URL of a public address. "
        f"Got {url!r} instead: {reason}. If the receiver is meant to be on your own "
        f"network, allow its network on the server with {ALLOW_SETTING} "
        "(e.g. 10.20.0.0/16)."
    )


def _ip(host: str) -> Address | None:
    """The address ``host`` spells, in any spelling the system resolver would take: a
    trailing dot, and IPv4 as one number, hex or octal (2852039166, 0xa9fea9fe,
    0251.0376.0251.0376 are all 169.254.169.254). No lookup: names give None."""
    literal = host.split("%", 1)[0].rstrip(".")  # drop an IPv6 zone (fe80::1%eth0)
    try:
        return ipaddress.ip_address(literal)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(literal))
    except OSError:
        return None


def _host(url: str) -> str:
    host = urlsplit(url).hostname
    if not host:
        raise _fail(url, "it names no host")
    return host


def check_webhook_url(url: str, allow: Sequence[str] = ()) -> None:
    """Refuse, when a rule is saved, a webhook whose host is a refused address as written.

    Names other than ``localhost`` are resolved only when sending (they may change).
    """
    host = _host(url)
    ip = _ip(host)
    if ip is None:
        lowered = host.lower().rstrip(".")
        if lowered == "localhost" or lowered.endswith(".localhost"):
            ip = ipaddress.ip_address("127.0.0.1")
        else:
            return
    why = refusal(ip, allow)
    if why is not None:
        raise _fail(url, _describe(host, why))


def resolve_webhook(url: str, allow: Sequence[str] = ()) -> WebhookTarget:
    """The address to send ``url``'s alert to, resolved and checked now.

    Refused (InvalidInputError) unless at least one address the name resolves to may be
    reached; the first such address is the one to connect to.
    """
    parts = urlsplit(url)
    host = _host(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise _fail(url, "its port is not a number in [0, 65535]") from None
    literal = _ip(host)
    if literal is not None:
        candidates: list[Address] = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise InvalidInputError(f"The webhook host {host!r} does not resolve: {exc}.") from None
        candidates = []
        for info in infos:
            ip = _ip(str(info[4][0]))
            if ip is not None and ip not in candidates:
                candidates.append(ip)
    refused = []
    for ip in candidates:
        why = refusal(ip, allow)
        if why is None:
            return WebhookTarget(str(ip), port, host)
        refused.append(f"{ip} ({why})")
    raise _fail(url, f"{host} resolves to {', '.join(refused) or 'no address'}")
