"""Who is calling: AK/SK ``SDK-HMAC-SHA256`` signatures or ``X-Auth-Token`` (SPEC §3).

In steps, so that nobody the server does not know makes it read a body: :func:`check_headers`
before the body is read (a token known and unexpired; or an access key known, its signature's
date within the window), then :func:`verify_body` once it is read (the signature, over the body).
Then, for a signed request, :func:`refuse_replay` (or, for the promotion call, its idempotency
keys, see ``api.promotion``) makes sure the same signature acts only once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request

from smsgate.domain.records import now_ms
from smsgate.api.body import read_body
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
        return Caller(*_presented_key(state, request, headers))
    if "x-auth-token" in headers:
        return Caller(_token_project(state, request, headers["x-auth-token"]))
    raise errors.AuthFailed(
        "Incorrect IAM authentication information: sign the request with AK/SK"
        " (SDK-HMAC-SHA256) or send X-Auth-Token."
    )


def verify_body(state: AppState, request: Request, caller: Caller, body: bytes) -> str:
    """The id of the project the request acts for, its ``body`` now read: an AK/SK signature is
    verified over it.  A path ``{project_id}``, when there is one, must be that project."""
    headers = request_headers(request)
    if caller.presented is not None:
        _verify_signature(request, headers, caller.presented, body)
    path_project = request.path_params.get("project_id")
    if path_project is not None and path_project != caller.project_id:
        raise errors.ProjectNotFound()
    header_project = headers.get("x-project-id")
    if header_project and header_project != caller.project_id:
        raise errors.ProjectNotFound("X-Project-Id does not match the project being called.")
    return caller.project_id


def _verify_signature(request: Request, headers: dict[str, str], presented: sdk_hmac.PresentedKey,
                      body: bytes) -> None:
    """Verify the signature over ``body`` and keep it on the request (see :func:`signed`)."""
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    try:
        sdk_hmac.verify_signature(
            presented,
            method=request.method,
            raw_path=raw_path.decode("latin-1").split("?", 1)[0],
            query_string=request.scope["query_string"].decode("latin-1"),
            headers=headers,
            body=body,
        )
    except sdk_hmac.SignatureError as exc:
        raise _refused(request, headers, exc) from exc
    auth = presented.authorization
    request.scope.setdefault("state", {})[_SIGNED] = Signed(
        auth.access_key, auth.signature, sdk_hmac.parse_sdk_date(presented.sdk_date), auth.signed_headers
    )


async def refuse_replay(state: AppState, request: Request) -> None:
    """After :func:`verify_body`: refuse (401) a signature that was let in before, by any API
    process, while its date is in the window.  A token's request passes."""
    verified = signed(request)
    if verified is None:
        return
    if not await state.first_sight(verified.signature, verified.expires_at):
        audit.signature_refused(reason="replayed", access_key=verified.access_key,
                                client=_client(request), method=request.method,
                                path=request.url.path)
        raise errors.AuthFailed(REPLAYED)


def _presented_key(state: AppState, request: Request,
                   headers: dict[str, str]) -> tuple[str, sdk_hmac.PresentedKey]:
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

    try:
        presented = sdk_hmac.check_headers(headers=headers, lookup_secret=lookup_secret)
    except sdk_hmac.SignatureError as exc:
        raise _refused(request, headers, exc) from exc
    return owners[presented.access_key], presented


def _refused(request: Request, headers: dict[str, str], exc: sdk_hmac.SignatureError) -> errors.AuthFailed:
    """The 401 for a refused signature, logged (without secrets); an unknown key and a wrong
    signature get the same message."""
    audit.signature_refused(reason=exc.reason, access_key=_claimed_key(headers),
                            client=_client(request), method=request.method,
                            path=request.url.path)
    if isinstance(exc, sdk_hmac.WrongCredentials):
        return errors.AuthFailed(WRONG_KEY_OR_SIGNATURE)
    return errors.AuthFailed(f"Incorrect IAM authentication information: {exc.reason}")


def _token_project(state: AppState, request: Request, token: str) -> str:
    found = state.reader.token(token_hash(token))
    if found is None or found[1] <= now_ms():
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
