"""``/console/api/projects/{id}/signs``: signatures, created, approved, or rejected with a
reason the customer reads in the signature's ``reply``."""

from __future__ import annotations

from typing import Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from smsgate.api.responses import JsonResponse
from smsgate.console.requests import audit, operator_only, project_id_of, read, state_of
from smsgate.domain import errors, signatures
from smsgate.domain.records import Sign, SignStatus, SignType

#: why a signature is rejected; the code (and the operator's note) goes to the customer in
#: the signature's ``reply``
REJECT_REASONS = {
    "NAME_MISMATCH": "The name does not match the applicant's company, app or brand.",
    "MISSING_PROOF": "Supporting documents are missing or unreadable.",
    "TRADEMARK": "The name infringes a trademark or impersonates another party.",
    "PROHIBITED": "The name contains prohibited or misleading content.",
    "OTHER": "Another reason (see the note).",
}


class NewSign(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    type: Literal["promotional", "notification"] = "promotional"


class Rejection(msgspec.Struct, forbid_unknown_fields=True):
    reason_code: str
    note: str = ""


def sign_json(sign: Sign) -> dict:
    return {"id": sign.id, "name": sign.name, "type": sign.type.name.lower(),
            "status": sign.status.name.lower(), "reply": sign.reply, "created_at": sign.created_at}


@operator_only
async def create_sign(request: Request) -> Response:
    project_id = project_id_of(request)
    body = await read(request, NewSign)
    kind = SignType.PROMOTIONAL if body.type == "promotional" else SignType.NOTIFICATION
    state = state_of(request)
    sign = await state.write(state.writer.create_sign, project_id, signatures.validate_name(body.name), kind)
    audit(request, "sign_create", project_id=project_id, sign_id=sign.id)
    return JsonResponse(sign_json(sign), status_code=201)


@operator_only
async def approve_sign(request: Request) -> Response:
    project_id = project_id_of(request)
    sign_id = request.path_params["sign_id"]
    state = state_of(request)
    sign = await state.write(state.writer.set_sign_status, project_id, sign_id, SignStatus.APPROVED, "")
    audit(request, "sign_approve", project_id=project_id, sign_id=sign_id)
    return JsonResponse(sign_json(sign))


@operator_only
async def reject_sign(request: Request) -> Response:
    project_id = project_id_of(request)
    sign_id = request.path_params["sign_id"]
    body = await read(request, Rejection)
    if body.reason_code not in REJECT_REASONS:
        raise errors.BadRequest(f"Parameter: reason_code is one of {', '.join(REJECT_REASONS)}.")
    note = body.note.strip()
    if len(note) > 200:
        raise errors.BadRequest("Parameter: the note has at most 200 characters.")
    reply = f"{body.reason_code}: {note}" if note else body.reason_code
    state = state_of(request)
    sign = await state.write(state.writer.set_sign_status, project_id, sign_id, SignStatus.REJECTED, reply)
    audit(request, "sign_reject", project_id=project_id, sign_id=sign_id, reason=body.reason_code)
    return JsonResponse(sign_json(sign))
