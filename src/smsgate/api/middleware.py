"""Pure ASGI middleware: a request id on every request and every response."""

from __future__ import annotations

import os

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
