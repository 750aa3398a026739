"""Pure ASGI middleware: a request id on every request and every response; the limits on what
one request may take of the server once its headers are in."""

from __future__ import annotations

import asyncio
import os

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smsgate.api.responses import error_response
from smsgate.domain import errors
from smsgate.logs import request_id_var


class RequestId:
    """Gives each request a 32-hex id (``scope["state"]["request_id"]``) and answers it in
    ``X-Request-Id``, which Huawei's SDK reads as the response's request_id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = os.urandom(16).hex()
        scope.setdefault("state", {})["request_id"] = rid
        request_id_var.set(rid)  # for every log line of this request
        header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    headers.append(header)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


#: set in a request's ``scope["extensions"]`` by ``api.server`` when it arrived on a connection
#: past the cap (SMSGATE_MAX_CONNECTIONS)
OVER_CAPACITY = "smsgate.over_capacity"


class RequestLimits:
    """Pure ASGI middleware: what one request may take of the server once its headers are in.

    * A request marked :data:`OVER_CAPACITY` is answered ``503 SMN.0018`` at once.
    * Its body must arrive within ``body_timeout_s`` of its headers, else ``408 SMN.0024``,
      raised where the app reads the body and so answered like any other error.
    * An answer that starts before the request's body was all received (a 401 before the body
      is read, a 413, a 408) closes the connection, so that a refused client cannot keep the
      server reading a body nobody wants.
    """

    def __init__(self, app: ASGIApp, body_timeout_s: float) -> None:
        self.app = app
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if OVER_CAPACITY in scope.get("extensions", {}):
            response = error_response(Request(scope), errors.ServiceUnavailable(
                "The server is serving as many connections as it may; retry later."))
            response.headers.update({"Retry-After": "1", "Connection": "close"})
            await response(scope, receive, send)
            return
        headers = Headers(scope=scope)
        body_done = "transfer-encoding" not in headers and headers.get("content-length", "0") == "0"
        deadline = asyncio.get_running_loop().time() + self.body_timeout_s

        async def receive_in_time() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise errors.RequestTimeout(
                    f"The request body did not arrive within {self.body_timeout_s:g} s.") from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and not body_done:
                message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
            await send(message)

        await self.app(scope, receive_in_time, send_closing)
