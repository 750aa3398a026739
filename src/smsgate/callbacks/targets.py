"""Where callbacks may go: only public unicast addresses, unless the operator allows more.

A customer chooses the URL the service posts its events to, so without a check a
``topic_urn`` of ``http://169.254.169.254/…`` (a cloud's metadata service),
``http://127.0.0.1:6379/`` or ``http://2130706433/`` makes the service a proxy into its own
network.  This module decides, independently of any HTTP client:

* :class:`CallbackPolicy` — whether one IP address may be a callback target: a public unicast
  address (not in the IANA special-purpose registries' non-global ranges, and global to Python's
  ``ipaddress`` too), or one inside ``SMSGATE_CALLBACK_ALLOW``; never an unspecified, multicast
  or broadcast address.  IPv6 addresses that carry an IPv4 address are judged by it
  (IPv4-mapped and NAT64: by it alone; 6to4: by both).
* :class:`CallbackGuard` — resolves a host (an IP literal in any spelling the system resolver
  accepts — ``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1`` — or a name) and returns
  its addresses only when *every* one is allowed; the caller connects to one of exactly those.
  A name that resolves to one public and one private address is refused: that is what a DNS
  rebinding attack looks like.

The guard is asked when a URL is subscribed (:meth:`CallbackGuard.check_url`), before each post
and by the HTTP client at each new connection (``callbacks.transport``), so a name whose DNS
changes after it was subscribed is refused at the next post, and what a connection reaches is
an address checked for it.  Names are resolved with the system resolver on a thread; tests
replace :func:`system_resolve`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from smsgate.config import IPNetwork, parse_allow  # noqa: F401  (the setting, parsed there)
from smsgate.domain import errors

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: (host, port) -> the addresses the name resolves to, as strings; raises
#: :class:`NameNotFound` when the name does not exist, anything else (``OSError``) when the
#: resolver cannot answer now
Resolve = Callable[[str, int], Awaitable[Sequence[str]]]

RESOLVE_TIMEOUT_S = 5.0
_DEFAULT_PORTS = {"http": 80, "https": 443}

# IANA IPv4 / IPv6 Special-Purpose Address Registries: the blocks that are not globally
# reachable (or are reserved), as of 2024.  Python's ``is_global`` is consulted as well, but its
# tables differ between Python releases, so this list is the one the rule is documented by.
_NOT_PUBLIC_V4 = tuple(ipaddress.IPv4Network(n) for n in (
    "0.0.0.0/8",        # "this network"
    "10.0.0.0/8",       # private
    "100.64.0.0/10",    # shared address space (carrier-grade NAT)
    "127.0.0.0/8",      # loopback
    "169.254.0.0/16",   # link-local (cloud metadata services live here)
    "172.16.0.0/12",    # private
    "192.0.0.0/24",     # IETF protocol assignments
    "192.0.2.0/24",     # documentation (TEST-NET-1)
    "192.88.99.0/24",   # 6to4 relay anycast (deprecated)
    "192.168.0.0/16",   # private
    "198.18.0.0/15",    # benchmarking
    "198.51.100.0/24",  # documentation (TEST-NET-2)
    "203.0.113.0/24",   # documentation (TEST-NET-3)
    "224.0.0.0/4",      # multicast
    "240.0.0.0/4",      # reserved, and the limited broadcast address
))
#: IPv6 outside global unicast (2000::/3) is never public (loopback, unspecified, ULA fc00::/7,
#: link-local fe80::/10, multicast ff00::/8, local NAT64 64:ff9b:1::/48, discard 100::/64, …;
#: the well-known NAT64 prefix is judged by the IPv4 address it carries); inside it, these
#: blocks are not public either
_NOT_PUBLIC_V6 = tuple(ipaddress.IPv6Network(n) for n in (
    "2001::/23",        # IETF protocol assignments (Teredo 2001::/32 among them)
    "2001:db8::/32",    # documentation
    "3fff::/20",        # documentation
))
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


class NameNotFound(Exception):
    """The resolver answered that the name has no address (NXDOMAIN, no A/AAAA record)."""


def judged_as(address: IPAddress) -> tuple[IPAddress, ...]:
    """The addresses a connection to ``address`` really reaches, to be judged: an IPv4-mapped
    (``::ffff:a.b.c.d``) or NAT64 (``64:ff9b::a.b.c.d``) address is its IPv4 address; a 6to4
    one (``2002:aabb:ccdd::…``) is itself and the IPv4 relay address it carries."""
    if address.version == 4:
        return (address,)
    if address.ipv4_mapped is not None:
        return (address.ipv4_mapped,)
    if address in _NAT64:
        return (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF),)
    if address.sixtofour is not None:
        return (address, address.sixtofour)
    return (address,)


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    """Which addresses callbacks may be posted to: public unicast ones, and ``allow``."""

    allow: tuple[IPNetwork, ...] = ()

    def refusal(self, address: IPAddress) -> str | None:
        """None when ``address`` may be a callback target, else why not (for messages)."""
        judged = judged_as(address)
        if any(a.is_unspecified or a.is_multicast or a == _BROADCAST for a in judged):
            return "not a unicast address"
        if any(self._allowed(a) for a in judged) or all(_public(a) for a in judged):
            return None
        return "not a public address"

    def _allowed(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self.allow)


def _public(address: IPAddress) -> bool:
    if not address.is_global:
        return False
    if address.version == 4:
        return not any(address in net for net in _NOT_PUBLIC_V4)
    return address in _GLOBAL_UNICAST_V6 and not any(address in net for net in _NOT_PUBLIC_V6)


def ip_literal(host: str) -> IPAddress | None:
    """The address ``host`` spells, in any form the system resolver reads as a number without a
    lookup (``127.0.0.1``, ``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1``, ``::1``,
    ``[::1]``); None for a name."""
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:  # AI_NUMERICHOST: the resolver's own reading of numbers; it never asks DNS
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return ipaddress.ip_address(infos[0][4][0]) if infos else None


async def system_resolve(host: str, port: int) -> list[str]:
    """The system resolver (``getaddrinfo``, on the loop's thread pool)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno in _NOT_FOUND:
            raise NameNotFound(host) from exc
        raise
    return [info[4][0] for info in infos]


_NOT_FOUND = {getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA", "EAI_ADDRFAMILY")
              if hasattr(socket, name)}


def split_url(url: str) -> tuple[str, int]:
    """(host, port) of an http(s) URL; the port defaults to the scheme's."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # a port out of range, a malformed IPv6 literal
        raise errors.TopicUrnInvalid(f"Parameter: TopicUrn is invalid: {exc}.") from None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise errors.TopicUrnInvalid()
    if port == 0:
        raise errors.TopicUrnInvalid("Parameter: TopicUrn is invalid: port 0.")
    return parts.hostname, port or _DEFAULT_PORTS[parts.scheme]


class CallbackGuard:
    """Resolves callback hosts and hands out only addresses the policy allows."""

    def __init__(self, policy: CallbackPolicy, resolve: Resolve | None = None,
                 timeout: float = RESOLVE_TIMEOUT_S) -> None:
        self.policy = policy
        self._resolve = resolve
        self._timeout = timeout

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        """Every address of ``host``, each allowed (in the resolver's order, without repeats);
        raises :class:`errors.CallbackTargetRefused` when any is not, or the name does not
        resolve, and :class:`errors.ServiceUnavailable` when the resolver cannot answer now."""
        literal = ip_literal(host)
        found = [literal] if literal is not None else await self._lookup(host, port)
        for address in found:
            why = self.policy.refusal(address)
            if why is not None:
                shown = str(address) if literal is not None else f"{host} ({address})"
                raise errors.CallbackTargetRefused(
                    _client_message(host, literal), f"{shown} is {why}")
        return found

    async def check_url(self, url: str) -> None:
        """The check at subscription: an http(s) URL whose host resolves to allowed addresses."""
        host, port = split_url(url)
        await self.addresses(host, port)

    async def _lookup(self, host: str, port: int) -> list[IPAddress]:
        resolve = self._resolve or system_resolve
        try:
            names = await asyncio.wait_for(resolve(host, port), self._timeout)
        except NameNotFound:
            raise errors.CallbackTargetRefused(_client_message(host, None), f"{host} does not resolve") from None
        except (OSError, TimeoutError) as exc:
            raise errors.ServiceUnavailable(
                f"The callback host {host} cannot be resolved now ({type(exc).__name__}); retry later."
            ) from None
        found = _unique(ipaddress.ip_address(name.split("%", 1)[0]) for name in names)
        if not found:
            raise errors.CallbackTargetRefused(_client_message(host, None), f"{host} does not resolve")
        return found


def _client_message(host: str, literal: IPAddress | None) -> str:
    """What a client is told: the same words whether a name resolves to a private address or not
    at all, so that the answer does not map the service's internal DNS for a stranger."""
    said = f"{literal} is not" if literal is not None else f"{host} does not resolve to"
    return (f"Parameter: TopicUrn is invalid: {said} a public address; callbacks go to public"
            " addresses only, unless the service's operator allows more networks.")


def _unique(addresses: Iterable[IPAddress]) -> list[IPAddress]:
    return list(dict.fromkeys(addresses))


#: what a subscription's topic_urn may be: "" (unsubscribe), an SMN topic URN (kept, not posted
#: to), or an http(s) URL with an ASCII host name (IDNs in punycode) or a bracketed IPv6
#: address; the API's schema (``api.schemas``) declares this same pattern.
#: (Explicit ranges rather than \S: Python and ECMA regexes disagree on what is white space.)
TOPIC_URN_PATTERN = (
    r"^(|urn:smn:[^\x00-\x20\x7f-\x9f]*"
    r"|https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*\])(:[0-9]{1,5})?([/?#][^\x00-\x20\x7f-\x9f]*)?)$"
)
_TOPIC_URN = re.compile(TOPIC_URN_PATTERN)


async def check_topic_urn(urn: str, guard: CallbackGuard) -> None:
    """What a subscription may name (the API's PUT and the console's both ask this): the
    documented pattern (:data:`TOPIC_URN_PATTERN`) and nothing looser, and for an http(s)
    URL a host that is, or resolves to, only addresses callbacks may go to (400 SMN.0005)."""
    if len(urn) > 2048 or not _TOPIC_URN.fullmatch(urn):
        raise errors.TopicUrnInvalid()
    if urn.startswith(("http://", "https://")):
        await guard.check_url(urn)
