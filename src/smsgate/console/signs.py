"""``/console/api/projects/{id}/signs``: signatures, created, approved, or rejected with a
reason the customer reads in the signature's ``reply``."""

from __future__ import annotations


import msgspec
from starlette.requests import Request
from starlette.responses import Response

from smsgate.api.responses import JsonResponse
from smsgate.console.requests import audit, operator_only, project_id_of, read, state_of
from smsgate.domain import admin as rules
from smsgate.domain.records import Sign, SignStatus



class NewSign(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    type: str = "promotional"


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
    name, kind = rules.sign_name(body.name), rules.sign_type(body.type)
    state = state_of(request)
    sign = await state.write(state.writer.create_sign, project_id, name, kind)
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
    reply = rules.rejection(body.reason_code, body.note)
    state = state_of(request)
    sign = await state.write(state.writer.set_sign_status, project_id, sign_id, SignStatus.REJECTED, reply)
    audit(request, "sign_reject", project_id=project_id, sign_id=sign_id, reason=body.reason_code)
    return JsonResponse(sign_json(sign))
