"""How the API is served: uvicorn, with limits on what a client may take before the app runs.

uvicorn bounds nothing a client sends before the request reaches the app: no timeout covers a
request's line and headers (``timeout_keep_alive`` only covers the idle time between requests
and is reset by every byte), httptools buffers a header of any size, and past
``limit_concurrency`` it answers in plain text.  No library adds these (uvicorn's issue #157
still lists ``--timeout-request-start``), so :class:`GuardedHttpToolsProtocol` adds them to
uvicorn's own protocol, in as few overrides as it takes:

* the request line and headers must arrive within ``SMSGATE_HEADER_TIMEOUT`` of the request's
  first byte (of the connection, for its first request): else ``408`` and the connection is
  closed (a connection that sent nothing at all is just closed);
* they may not exceed :data:`MAX_HEAD_BYTES`: else ``431``;
* a request on a connection past ``SMSGATE_MAX_CONNECTIONS`` is marked, and the app answers it
  ``503 SMN.0018`` (``api.middleware.RequestLimits``, so that it is counted in /metrics).

What comes after the headers (the body's deadline, closing a connection whose body was not
read) is the app's part: ``api.middleware.RequestLimits``.  Refusals written here are in the
service's error shape too (``{"request_id", "code", "message"}``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import resource
import time
from dataclasses import dataclass
from typing import Any

import msgspec
import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from smsgate.api.middleware import OVER_CAPACITY
from smsgate.api.schemas import ErrorBody
from smsgate.config import Settings
from smsgate.domain import errors

log = logging.getLogger("smsgate.api")

#: request line and headers together (h11, uvicorn's other parser, allows 16 KiB; nginx 32 KiB)
MAX_HEAD_BYTES = 64 * 1024
#: how often at most the "over capacity" warning is logged
_WARN_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_connections: int
    header_timeout_s: float
    max_head_bytes: int = MAX_HEAD_BYTES


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size cap on each request's head, and
    its connections counted against a cap (see the module's documentation)."""

    _last_warning = 0.0  # of the over-capacity warning, for all connections
    _refused_since_warning = 0

    def __init__(self, *args: Any, limits: HttpLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._head_timer: asyncio.TimerHandle | None = None
        self._awaiting_head = True  # no request, or one whose headers are not complete
        self._head_begun = False  # a byte of the next request's head has arrived
        self._head_bytes = 0

    # --- the connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._awaiting_head and self._head_bytes > self.limits.max_head_bytes:
            if not self.transport.is_closing():
                self._refuse(errors.HeadersTooLarge(
                    f"Request line and headers are larger than {self.limits.max_head_bytes} bytes."))

    def send_400_response(self, msg: str) -> None:
        """Not HTTP at all (uvicorn answers this one itself)."""
        self._refuse(errors.BadRequest(f"The request is not valid HTTP/1.1 ({msg})"))

    # --- the parser's callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_begun = True
        if self.cycle is None or self.cycle.response_complete:
            self._arm_head_timer()
        # else a pipelined request: its time starts when the one before it is answered

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        self._awaiting_head = self._head_begun = False
        self._head_bytes = 0
        if len(self.connections) > self.limits.max_connections:
            self.scope.setdefault("extensions", {})[OVER_CAPACITY] = {}  # type: ignore[typeddict-item]
            self._warn_over_capacity()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._awaiting_head = True

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._head_begun and not self.transport.is_closing():
            self._arm_head_timer()

    # --- the head's deadline

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if not (self._head_begun or self._head_bytes):  # connected, and sent nothing
            self.transport.close()
            return
        log.info("request_head_timeout", extra={"client": self.client[0] if self.client else None,
                                                "received_bytes": self._head_bytes})
        self._refuse(errors.RequestTimeout(
            f"The request line and headers did not arrive within {self.limits.header_timeout_s:g} s."))

    # --- answers given before there is a request for the app

    def _refuse(self, error: errors.SmsgateError) -> None:
        """Answer ``error`` and close the connection: written here, since the request never
        reaches the app (uvicorn's own ``send_400_response`` does the same in plain text)."""
        request_id = os.urandom(16).hex()
        body = msgspec.json.encode(ErrorBody(request_id=request_id, code=error.code, message=error.message))
        head = [STATUS_LINE[error.status]]
        for name, value in self.server_state.default_headers:
            head.append(b"%s: %s\r\n" % (name, value))
        head.append(b"content-type: application/json;charset=UTF-8\r\n"
                    b"content-length: %d\r\nx-request-id: %s\r\nconnection: close\r\n\r\n"
                    % (len(body), request_id.encode()))
        self._disarm_head_timer()
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(b"".join(head) + body)
        # else an earlier (pipelined) request's answer is still to come: no answer can be given
        # in this one's place, the connection is just closed
        self.transport.close()

    @classmethod
    def _warn_over_capacity(cls) -> None:
        cls._refused_since_warning += 1
        now = time.monotonic()
        if now - cls._last_warning >= _WARN_EVERY_S:
            log.warning("over_capacity", extra={"refused": cls._refused_since_warning})
            cls._last_warning, cls._refused_since_warning = now, 0


def uvicorn_config(app: Any, settings: Settings, **more: Any) -> uvicorn.Config:
    """The uvicorn configuration ``serve`` and ``api`` run with (``more``: uvicorn's own)."""
    limits = HttpLimits(max_connections=settings.max_connections,
                        header_timeout_s=settings.header_timeout_s)
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=functools.partial(GuardedHttpToolsProtocol, limits=limits),  # type: ignore[arg-type]
        ws="none",  # no WebSocket route: an upgrade is an ordinary request
        **more,
    )


def raise_open_files_limit(settings: Settings) -> None:
    """Each connection is a file descriptor: lift the soft limit to what the connection cap
    needs (as far as the hard limit allows), and say so when it cannot."""
    needed = settings.max_connections + 256  # the store, Redis, SMPP binds, logs
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < needed:
            log.warning("open_files_limit_low", extra={
                "limit": target, "needed": needed,
                "hint": "raise the hard limit (ulimit -Hn) or lower SMSGATE_MAX_CONNECTIONS"})
