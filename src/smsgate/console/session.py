"""``/console/api/login``, ``logout``, ``session`` and ``meta`` (what the page needs to know
before anything else)."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from smsgate.api.responses import JsonResponse, request_id
from smsgate.console import auth
from smsgate.console.requests import MAX_LOGIN_BODY, log, operator_only, read, state_of
from smsgate.domain.admin import REJECT_REASONS
from smsgate.domain.records import now_ms
from smsgate.store import history
from smsgate.store.outbox import EVENT_TYPES


class LoginBody(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    password: str


async def login(request: Request) -> Response:
    auth.check_csrf(request)
    body = await read(request, LoginBody, MAX_LOGIN_BODY)
    state = state_of(request)
    address = request.client.host if request.client else ""
    stored = await auth.check_login(state.reader.db, body.name, body.password,
                                    auth.throttle_of(request), address)
    cookie, session = auth.sessions_of(request).issue(body.name, stored, now_ms())
    response = JsonResponse({"operator": session.operator, "expires_at": session.expires_at})
    response.set_cookie(auth.SESSION_COOKIE, cookie, max_age=auth.sessions_of(request).ttl_ms // 1000,
                        path="/console", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    log.info("console_login", extra={"operator": session.operator})
    return response


@operator_only
async def logout(request: Request) -> Response:
    response = JsonResponse({"request_id": request_id(request)})
    response.delete_cookie(auth.SESSION_COOKIE, path="/console", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
    return response


@operator_only
async def session(request: Request) -> Response:
    current = auth.current_session(request)
    return JsonResponse({"operator": current.operator, "expires_at": current.expires_at})


@operator_only
async def meta(request: Request) -> Response:
    settings = state_of(request).settings
    return JsonResponse({
        "states": history.STATES,
        "event_types": EVENT_TYPES,
        "reject_reasons": REJECT_REASONS,
        "defaults": {"daily_cap": settings.daily_cap, "send_window": settings.send_window,
                     "timezone": settings.timezone},
    })
