"""The HTTP client callbacks are posted with, connecting only to addresses the guard checked.

An aiohttp session, made for throughput: connections are kept alive and pooled per host, and
a post costs a fraction of what httpx's pool bookkeeping does (issue 11: ~160 µs of CPU per
post against ~1,700).  Its resolution is taken out of its hands, so that a name whose DNS
answers a public address to a check and ``127.0.0.1`` a moment later (DNS rebinding) does not
get through:

* :class:`GuardedResolver` is the session's resolver, and its DNS cache is off: every new
  connection asks :class:`~smsgate.callbacks.targets.CallbackGuard`, which resolves the host and
  returns its addresses only when every one is allowed; the connection goes to one of them,
  tried in turn.
* Every socket is made by :func:`_checked_socket`, which refuses an address the policy does not
  allow, whatever gave it (aiohttp skips the resolver for a host that is an IP address).

The URL is left as it is, so the ``Host`` header, TLS's SNI and the certificate check all use
the name, as they should; connections are pooled per name, never shared between two names on
one address.

Proxies from the environment (``HTTP_PROXY`` …) are not used (``trust_env=False``): through a
proxy, the proxy resolves and connects, and no check of ours could hold.  Redirects are not
followed (the poster posts with ``allow_redirects=False``): a ``302`` to an internal address
is just a failed post.  No cookie is kept between posts.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from smsgate.callbacks.targets import CallbackGuard, CallbackPolicy
from smsgate.domain import errors

#: idle connections to a customer's endpoint are kept this long for the next posts
KEEPALIVE_S = 30.0
USER_AGENT = "smsgate-callbacks"


class GuardedResolver(AbstractResolver):
    """Answers only with addresses the guard allows (it raises when any is not)."""

    def __init__(self, guard: CallbackGuard) -> None:
        self._guard = guard

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=str(address), port=port,
                          family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                          proto=0, flags=socket.AI_NUMERICHOST)
            for address in await self._guard.addresses(host, port)
        ]

    async def close(self) -> None:
        pass


def _checked_socket(policy: CallbackPolicy):  # noqa: ANN202 (aiohappyeyeballs' SocketFactoryType)
    def make(addr_info: tuple) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        why = policy.refusal(address)
        if why is not None:
            raise errors.CallbackTargetRefused(
                f"Parameter: TopicUrn is invalid: {address} is not a public address.", f"{address} is {why}")
        return socket.socket(family=family, type=type_, proto=proto)

    return make


def guarded_session(guard: CallbackGuard, verify: ssl.SSLContext | bool = True,
                    limit: int = 256) -> aiohttp.ClientSession:
    """The session the poster posts with: guarded connections, at most ``limit`` at once, kept
    alive per host; no proxy, no redirects, no cookies.  (Made inside the event loop.)"""
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(guard), use_dns_cache=False, socket_factory=_checked_socket(guard.policy),
        ssl=verify, limit=limit, limit_per_host=0, keepalive_timeout=KEEPALIVE_S,
        happy_eyeballs_delay=None,  # the checked addresses one after the other, in order
    )
    return aiohttp.ClientSession(connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar(),
                                 headers={"User-Agent": USER_AGENT}, auto_decompress=False)
