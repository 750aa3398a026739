"""``/console/api/projects/{id}/optouts``: numbers that opted out of a signature, listed,
added and removed."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from smsgate.api.responses import JsonResponse
from smsgate.console.requests import (
    audit,
    int_param,
    operator_only,
    project_id_of,
    read,
    state_of,
)
from smsgate.domain import admin as rules
from smsgate.store import optouts


class OptoutsBody(msgspec.Struct, forbid_unknown_fields=True):
    sign_id: str
    numbers: list[str]


class OptoutRemoval(msgspec.Struct, forbid_unknown_fields=True):
    sign_id: str
    number: str


@operator_only
async def list_optouts(request: Request) -> Response:
    project_id = project_id_of(request)
    number = request.query_params.get("number") or None
    count, rows = optouts.page(
        state_of(request).reader.db, project_id,
        request.query_params.get("sign_id") or None,
        rules.number(number) if number else None,
        int_param(request, "limit", 100, 1, 500), int_param(request, "offset", 0, 0, 10**9),
    )
    return JsonResponse({"count": count, "optouts": rows})


@operator_only
async def add_optouts(request: Request) -> Response:
    project_id = project_id_of(request)
    body = await read(request, OptoutsBody)
    numbers = rules.numbers(body.numbers)
    state = state_of(request)
    added = await state.write(state.writer.add_optouts, project_id, body.sign_id, numbers)
    audit(request, "optouts_add", project_id=project_id, sign_id=body.sign_id, count=len(numbers))
    return JsonResponse({"added": added})


@operator_only
async def remove_optout(request: Request) -> Response:
    project_id = project_id_of(request)
    body = await read(request, OptoutRemoval)
    state = state_of(request)
    removed = await state.write(optouts.remove, state.writer.db, project_id, body.sign_id,
                                rules.number(body.number))
    audit(request, "optout_remove", project_id=project_id, sign_id=body.sign_id)
    return JsonResponse({"removed": removed})
