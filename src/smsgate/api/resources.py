"""The sibling calls: signatures (SPEC §4), tokens (SPEC §3) and the health check."""

from __future__ import annotations

import asyncio

from datetime import UTC, datetime

from starlette.requests import Request

from smsgate.api.auth import WRONG_KEY_OR_SIGNATURE, authenticated_body, refuse_replay, signed
from smsgate.api.responses import JsonResponse, request_id
from smsgate.api.schemas import (
    Health,
    RequestIdBody,
    SignListResponse,
    SmsSign,
    TokenInfo,
    TokenProject,
    TokenResponse,
)
from smsgate.api.state import AppState
from smsgate.auth.secrets import new_token, token_hash
from smsgate.domain import errors
from smsgate.domain.records import Sign, SignStatus, now_ms


def iso_utc(ms: int) -> str:
    """Epoch milliseconds as ``2016-08-02T08:10:00Z``, the API's time format."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def caller(request: Request) -> tuple[AppState, str, bytes]:
    """The app state, the caller's project and the request body (read once, capped, and only
    once the headers let the caller in).  A signature is let in once (a replay is refused)."""
    state, project_id, body = await authenticated_body(request)
    await refuse_replay(state, request)
    return state, project_id, body


def _sign(sign: Sign) -> SmsSign:
    return SmsSign(
        sign_id=sign.id,
        sign_name=sign.name,
        sign_type=int(sign.type),
        status=int(sign.status),
        reply=sign.reply,
        create_time=iso_utc(sign.created_at),
    )


async def list_signs(request: Request) -> JsonResponse:
    state, project_id, _ = await caller(request)
    signs = [_sign(s) for s in state.reader.list_signs(project_id)]
    return JsonResponse(
        SignListResponse(request_id=request_id(request), sms_sign_count=len(signs), sms_signs=signs)
    )


async def delete_sign(request: Request) -> JsonResponse:
    state, project_id, _ = await caller(request)
    sign_id = request.path_params["sign_id"]
    await state.write(state.writer.set_sign_status, project_id, sign_id, SignStatus.DELETED)
    return JsonResponse(RequestIdBody(request_id=request_id(request)))


async def create_token(request: Request) -> JsonResponse:
    """``POST /v3/auth/tokens`` signed with AK/SK: a project-scoped token in X-Subject-Token."""
    state, project_id, _ = await caller(request)
    verified = signed(request)
    if verified is None:
        raise errors.AuthFailed("A token is issued only to a request signed with AK/SK.")
    project = state.reader.require_project(project_id)
    token = new_token()
    issued = now_ms()
    expires = issued + state.settings.token_ttl_seconds * 1000
    if await state.write(state.writer.add_token, token_hash(token), project_id, expires,
                         verified.access_key) is None:  # the key was revoked meanwhile
        raise errors.AuthFailed(WRONG_KEY_OR_SIGNATURE)
    info = TokenInfo(
        expires_at=iso_utc(expires),
        issued_at=iso_utc(issued),
        project=TokenProject(id=project.id, name=project.name),
    )
    return JsonResponse(TokenResponse(token=info), status_code=201, headers={"X-Subject-Token": token})


async def health(request: Request) -> JsonResponse:
    state: AppState = request.app.state.smsgate
    try:
        store_ok = state.reader.ping()
    except Exception:  # any driver failure means the store is down, which is what we report
        store_ok = False
    # the caps fail closed without Redis, so no batch can be accepted: not ready either
    redis_ok = None if state.caps is None else await asyncio.to_thread(state.caps.ping)
    ok = store_ok and redis_ok is not False
    body = Health(status="ok" if ok else "degraded", store="ok" if store_ok else "down",
                  redis=None if redis_ok is None else "ok" if redis_ok else "down")
    return JsonResponse(body, status_code=200 if ok else 503)
