"""JSON responses, and the one place where errors become responses."""

from __future__ import annotations

import logging
import os

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from smsgate.api.schemas import ErrorBody, GatewayErrorBody
from smsgate.domain import errors
from smsgate.store.db import driver_errors

log = logging.getLogger("smsgate.api")

JSON_TYPE = "application/json;charset=UTF-8"
_encode = msgspec.json.Encoder().encode


class JsonResponse(Response):
    media_type = JSON_TYPE

    def render(self, content: object) -> bytes:
        return _encode(content)


def request_id(request: Request) -> str:
    state = request.scope.setdefault("state", {})
    if "request_id" not in state:  # errors raised outside the RequestId middleware
        state["request_id"] = os.urandom(16).hex()
    return state["request_id"]


def error_response(request: Request, exc: errors.SmsgateError) -> JsonResponse:
    """The error body of SPEC §2; AK/SK failures in the API gateway's shape, as the SDK expects."""
    rid = request_id(request)
    body: object
    if isinstance(exc, errors.AuthFailed):
        body = GatewayErrorBody(error_code=exc.code, error_msg=exc.message, request_id=rid)
    else:
        body = ErrorBody(request_id=rid, code=exc.code, message=exc.message)
    return JsonResponse(body, status_code=exc.status, headers={"X-Request-Id": rid})


async def smsgate_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.SmsgateError)
    return error_response(request, exc)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (unknown route or method) in our error model."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return error_response(request, errors.MethodNotAllowed())
    if exc.status_code == 404:
        return error_response(request, errors.RouteNotFound())
    return error_response(request, errors.BadRequest(str(exc.detail)))


async def client_gone(request: Request, exc: Exception) -> Response:
    """The client closed the connection while its body was being read: one quiet line, no
    traceback; the answer (which nobody reads) and the metrics say 400, the client's failure."""
    log.info("client_disconnected", extra={"method": request.method, "path": request.url.path})
    return error_response(request, errors.RequestIncomplete())


async def store_unavailable(request: Request, exc: Exception) -> Response:
    """A driver error that reached the top: the store is down or restarting, retry later."""
    log.warning("store_unavailable", extra={"error": type(exc).__name__})
    return error_response(request, errors.ServiceUnavailable(
        f"The store is unavailable ({type(exc).__name__}); retry later."))


async def internal_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, driver_errors()):
        return await store_unavailable(request, exc)
    log.exception("unhandled_error", extra={"request_id": request_id(request)})
    return error_response(request, errors.SmsgateError())
