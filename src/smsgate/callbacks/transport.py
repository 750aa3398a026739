"""The HTTP client callbacks are posted with, connecting only to addresses the guard checked.

httpx (through httpcore) would resolve a URL's host itself, after any check of ours: a name
whose DNS answers a public address to the check and ``127.0.0.1`` a moment later (DNS
rebinding) would get through.  So the resolution is taken out of its hands: httpcore's
network backend is the one place that opens TCP connections, and :class:`GuardedBackend`
resolves the host through :class:`~smsgate.callbacks.targets.CallbackGuard` and connects to
one of the addresses it checked, trying them in order.  The URL is left as it is, so the
``Host`` header, TLS's SNI and the certificate check all use the name, as they should; and
connections are pooled per name, never shared between two names on one address.

Other clients plug in the same way.  aiohttp, for one, takes a resolver: an
``aiohttp.abc.AbstractResolver`` whose ``resolve(host, port, family)`` returns
``[{"hostname": host, "host": str(a), "port": port, "family": …, "proto": 0,
"flags": socket.AI_NUMERICHOST} for a in await guard.addresses(host, port)]``, given to
``aiohttp.TCPConnector(resolver=…, use_dns_cache=False)`` (its DNS cache would otherwise
answer for the guard).  The poster's check before each post does not depend on the client.

Proxies from the environment (``HTTP_PROXY`` …) are not used: through a proxy, the proxy
resolves and connects, and no check of ours could hold.  Redirects are not followed (httpx's
default, kept): a ``302`` to an internal address is just a failed post.
"""

from __future__ import annotations

import ssl
import typing

import httpcore
import httpx

from smsgate.callbacks.targets import CallbackGuard

TIMEOUT_S = 10.0


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's AnyIO backend, but ``connect_tcp`` goes only to addresses the guard allows."""

    def __init__(self, guard: CallbackGuard, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._guard = guard
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.AsyncNetworkStream:
        *others, last = await self._guard.addresses(host, port)  # at least one, or it raises
        for address in others:  # each in turn, as a client that resolves for itself would
            try:
                return await self._inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                continue
        return await self._inner.connect_tcp(str(last), port, timeout, local_address, socket_options)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("callbacks are posted over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport on a connection pool whose connections :class:`GuardedBackend`
    opens.  (httpx does not pass a network backend through; its pool, ``_pool``, is replaced
    by one built the same way with the backend — ``tests/callbacks`` fail if that stops
    working.)"""

    def __init__(self, guard: CallbackGuard, verify: ssl.SSLContext | bool = True,
                 limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)) -> None:
        super().__init__(verify=verify, limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(guard),
        )


def guarded_client(guard: CallbackGuard, verify: ssl.SSLContext | bool = True) -> httpx.AsyncClient:
    """The client the poster posts with: guarded connections, no proxy, no redirects."""
    return httpx.AsyncClient(transport=GuardedTransport(guard, verify), timeout=TIMEOUT_S,
                             trust_env=False, follow_redirects=False)
