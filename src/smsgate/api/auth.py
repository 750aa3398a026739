"""Who is calling: AK/SK ``SDK-HMAC-SHA256`` signatures or ``X-Auth-Token`` (SPEC §3)."""

from __future__ import annotations

import time

from starlette.requests import Request

from smsgate.api.state import AppState
from smsgate.auth import sdk_hmac
from smsgate.auth.secrets import token_hash
from smsgate.domain import errors


def request_headers(request: Request) -> dict[str, str]:
    """Lower-case name -> value; a header sent several times is joined with ','."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in request.scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


def authenticate(state: AppState, request: Request, body: bytes) -> str:
    """The id of the project the caller acts for; raises when the caller is not let in.

    A path ``{project_id}``, when there is one, must be that project.
    """
    headers = request_headers(request)
    if "authorization" in headers:
        project_id = _signed_project(state, request, headers, body)
    elif "x-auth-token" in headers:
        project_id = _token_project(state, headers["x-auth-token"])
    else:
        raise errors.AuthFailed(
            "Incorrect IAM authentication information: sign the request with AK/SK"
            " (SDK-HMAC-SHA256) or send X-Auth-Token."
        )
    path_project = request.path_params.get("project_id")
    if path_project is not None and path_project != project_id:
        raise errors.ProjectNotFound()
    header_project = headers.get("x-project-id")
    if header_project and header_project != project_id:
        raise errors.ProjectNotFound("X-Project-Id does not match the project being called.")
    return project_id


def _signed_project(state: AppState, request: Request, headers: dict[str, str], body: bytes) -> str:
    owners: dict[str, str] = {}

    def lookup_secret(access_key: str) -> str | None:
        found = state.reader.access_key(access_key)
        if found is None:
            return None
        owners[access_key] = found[0]
        return state.secrets.open(found[1])

    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    try:
        access_key = sdk_hmac.verify(
            method=request.method,
            raw_path=raw_path.decode("latin-1").split("?", 1)[0],
            query_string=request.scope["query_string"].decode("latin-1"),
            headers=headers,
            body=body,
            lookup_secret=lookup_secret,
        )
    except sdk_hmac.SignatureError as exc:
        raise errors.AuthFailed(f"Incorrect IAM authentication information: {exc.reason}") from exc
    return owners[access_key]


def _token_project(state: AppState, token: str) -> str:
    found = state.reader.token(token_hash(token))
    if found is None or found[1] <= time.time() * 1000:
        raise errors.TokenInvalid()
    return found[0]
