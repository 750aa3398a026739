"""Who is calling: AK/SK ``SDK-HMAC-SHA256`` signatures or ``X-Auth-Token`` (SPEC §3).

Two steps: :func:`authenticate` verifies the credentials and names the project; then, for a
signed request, :func:`refuse_replay` (or, for the promotion call, its idempotency keys, see
``api.promotion``) makes sure the same signature acts only once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request

from smsgate.api.state import AppState
from smsgate.auth import audit, sdk_hmac
from smsgate.auth.secrets import token_hash
from smsgate.domain import errors

#: one message for an unknown (or revoked) access key and a wrong signature: which of the two
#: it was is for the log, not for a caller probing for keys
WRONG_KEY_OR_SIGNATURE = "Incorrect IAM authentication information: the access key or the signature is wrong."
REPLAYED = ("Incorrect IAM authentication information: this signature was used already; sign every"
            " request anew.")


@dataclass(frozen=True, slots=True)
class Signed:
    """A request whose AK/SK signature was verified."""

    access_key: str
    signature: str  # 64 lower-case hex digits
    signed_at: datetime  # its X-Sdk-Date
    signed_headers: tuple[str, ...]

    @property
    def expires_at(self) -> int:
        """Epoch ms after which the signature is refused for its date anyway (one second
        more, for the date's rounding)."""
        return int((self.signed_at + sdk_hmac.MAX_SKEW).timestamp() * 1000) + 1000


_SIGNED = "smsgate_signed"  # where the verified signature is kept in the request's scope state


def signed(request: Request) -> Signed | None:
    """The request's verified signature; None for a token (or before :func:`authenticate`)."""
    return request.scope.get("state", {}).get(_SIGNED)


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
        project_id = _token_project(state, request, headers["x-auth-token"])
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


async def refuse_replay(state: AppState, request: Request) -> None:
    """After :func:`authenticate`: refuse (401) a signature that was let in before, by any API
    process, while its date is in the window.  A token's request passes."""
    verified = signed(request)
    if verified is None:
        return
    if not await state.first_sight(verified.signature, verified.expires_at):
        audit.signature_refused(reason="replayed", access_key=verified.access_key,
                                client=_client(request), method=request.method,
                                path=request.url.path)
        raise errors.AuthFailed(REPLAYED)


def _signed_project(state: AppState, request: Request, headers: dict[str, str], body: bytes) -> str:
    owners: dict[str, str] = {}

    def lookup_secret(access_key: str) -> str | None:
        found = state.reader.access_key(access_key)
        if found is None:
            return None
        try:
            secret = state.secrets.open(found[1])
        except RuntimeError:  # sealed with another master key (the start-up check prevents it)
            audit.signature_refused(reason="secret key sealed with another master key",
                                    access_key=access_key)
            return None
        owners[access_key] = found[0]
        return secret

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
        audit.signature_refused(reason=exc.reason, access_key=_claimed_key(headers),
                                client=_client(request), method=request.method,
                                path=request.url.path)
        if isinstance(exc, sdk_hmac.WrongCredentials):
            raise errors.AuthFailed(WRONG_KEY_OR_SIGNATURE) from exc
        raise errors.AuthFailed(f"Incorrect IAM authentication information: {exc.reason}") from exc
    auth = sdk_hmac.parse_authorization(headers["authorization"])
    request.scope.setdefault("state", {})[_SIGNED] = Signed(
        access_key, auth.signature, sdk_hmac.parse_sdk_date(headers["x-sdk-date"]), auth.signed_headers
    )
    return owners[access_key]


def _token_project(state: AppState, request: Request, token: str) -> str:
    found = state.reader.token(token_hash(token))
    if found is None or found[1] <= time.time() * 1000:
        audit.token_refused(reason="unknown or revoked" if found is None else "expired",
                            client=_client(request), method=request.method, path=request.url.path)
        raise errors.TokenInvalid()
    return found[0]


def _claimed_key(headers: dict[str, str]) -> str | None:
    try:
        return sdk_hmac.parse_authorization(headers.get("authorization", "")).access_key
    except sdk_hmac.SignatureError:
        return None


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None
