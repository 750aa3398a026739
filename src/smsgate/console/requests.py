"""What every ``/console/api`` call shares: the session guard (:func:`operator_only`), reading
a JSON body, path and query parameters, and the audit line of a change.

Every route but the login refuses without a session (401); every call that changes something
also needs the ``X-Smsgate-Console`` header (see ``console.auth``).  Errors are the service's own
(``SmsgateError`` → ``api.responses``).  Writes go through ``AppState.write`` (the single writer
thread).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from smsgate.api.body import decode, read_body
from smsgate.api.state import AppState
from smsgate.console import auth
from smsgate.domain import errors

log = logging.getLogger("smsgate.console")

MAX_BODY = 1024 * 1024
#: the login is the one call anybody may make: a name and a password, never more than this
MAX_LOGIN_BODY = 16 * 1024
HEX32 = re.compile(r"[0-9a-f]{32}")

Handler = Callable[[Request], Awaitable[Response]]


def state_of(request: Request) -> AppState:
    return request.app.state.smsgate


async def read(request: Request, kind: type, limit: int = MAX_BODY):
    return decode(await read_body(request, limit), kind)


def audit(request: Request, action: str, **fields: object) -> None:
    log.info("console_action", extra={"operator": request.state.operator, "action": action, **fields})


def operator_only(handler: Handler) -> Handler:
    """A session first (401), then, for a call that changes something, the CSRF header (403)."""

    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        request.state.operator = auth.current_session(request).operator
        if request.method not in ("GET", "HEAD"):
            auth.check_csrf(request)
        return await handler(request)

    guarded.__name__ = f"console_{handler.__name__}"
    return guarded


def project_id_of(request: Request) -> str:
    project_id = request.path_params["project_id"]
    state_of(request).reader.require_project(project_id)
    return project_id


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise errors.OffsetLimitInvalid(f"Parameter: {name} is {low} to {high}.")
    return int(raw)

