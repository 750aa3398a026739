"""Who is calling: AK/SK ``SDK-HMAC-SHA256`` signatures or ``X-Auth-Token`` (SPEC §3).

In two steps, so that nobody the server does not know makes it read a body: :func:`check_headers`
before the body is read (a token known and unexpired; or an access key known, its signature's
date within the window), then :func:`verify_body` once it is read (the signature, over the body).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from starlette.requests import Request

from smsgate.api.body import read_body
from smsgate.api.state import AppState
from smsgate.auth import sdk_hmac
from smsgate.auth.secrets import token_hash
from smsgate.domain import errors


@dataclass(frozen=True, slots=True)
class Caller:
    """Who the headers say is calling, before the body is read."""

    project_id: str
    #: an AK/SK-signed request: its signature, still to be verified over the body
    presented: sdk_hmac.PresentedKey | None = None


def request_headers(request: Request) -> dict[str, str]:
    """Lower-case name -> value; a header sent several times is joined with ','."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in request.scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


async def authenticated_body(request: Request) -> tuple[AppState, str, bytes]:
    """The app state, the id of the project the caller acts for, and the request body (read
    once, capped, and only after the headers passed); raises when the caller is not let in.

    A signed body is read within its access key's allowance of unverified bytes
    (``api.unverified``): the key is known by then, but not yet that the caller holds its SK."""
    state: AppState = request.app.state.smsgate
    limit = state.settings.max_body_bytes
    caller = check_headers(state, request)
    if caller.presented is None:
        body = await read_body(request, limit)
        return state, verify_body(state, request, caller, body), body
    with state.unverified.hold(caller.presented.access_key, _announced_size(request, limit)):
        body = await read_body(request, limit)
        return state, verify_body(state, request, caller, body), body


def _announced_size(request: Request, limit: int) -> int:
    """What the body will take at most: its Content-Length, else (chunked) the cap."""
    declared = request.headers.get("content-length", "")
    return min(int(declared), limit) if declared.isascii() and declared.isdigit() else limit


def check_headers(state: AppState, request: Request) -> Caller:
    """What can be checked before the body is read; raises when the caller is not let in."""
    headers = request_headers(request)
    if "authorization" in headers:
        return Caller(*_presented_key(state, headers))
    if "x-auth-token" in headers:
        return Caller(_token_project(state, headers["x-auth-token"]))
    raise errors.AuthFailed(
        "Incorrect IAM authentication information: sign the request with AK/SK"
        " (SDK-HMAC-SHA256) or send X-Auth-Token."
    )


def verify_body(state: AppState, request: Request, caller: Caller, body: bytes) -> str:
    """The id of the project the request acts for, its ``body`` now read: an AK/SK signature is
    verified over it.  A path ``{project_id}``, when there is one, must be that project."""
    headers = request_headers(request)
    if caller.presented is not None:
        raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
        try:
            sdk_hmac.verify_signature(
                caller.presented,
                method=request.method,
                raw_path=raw_path.decode("latin-1").split("?", 1)[0],
                query_string=request.scope["query_string"].decode("latin-1"),
                headers=headers,
                body=body,
            )
        except sdk_hmac.SignatureError as exc:
            raise errors.AuthFailed(f"Incorrect IAM authentication information: {exc.reason}") from exc
        # From here the signature is genuine: checks that rely on that go here.
    path_project = request.path_params.get("project_id")
    if path_project is not None and path_project != caller.project_id:
        raise errors.ProjectNotFound()
    header_project = headers.get("x-project-id")
    if header_project and header_project != caller.project_id:
        raise errors.ProjectNotFound("X-Project-Id does not match the project being called.")
    return caller.project_id


def _presented_key(state: AppState, headers: dict[str, str]) -> tuple[str, sdk_hmac.PresentedKey]:
    owners: dict[str, str] = {}

    def lookup_secret(access_key: str) -> str | None:
        found = state.reader.access_key(access_key)
        if found is None:
            return None
        owners[access_key] = found[0]
        return state.secrets.open(found[1])

    try:
        presented = sdk_hmac.check_headers(headers=headers, lookup_secret=lookup_secret)
    except sdk_hmac.SignatureError as exc:
        raise errors.AuthFailed(f"Incorrect IAM authentication information: {exc.reason}") from exc
    return owners[presented.access_key], presented


def _token_project(state: AppState, token: str) -> str:
    found = state.reader.token(token_hash(token))
    if found is None or found[1] <= time.time() * 1000:
        raise errors.TokenInvalid()
    return found[0]
