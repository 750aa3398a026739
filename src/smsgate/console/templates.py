"""``/console/api/templates``: the review of SMS templates, every project's in one queue;
approved, or rejected with a reason the customer reads in the template's ``reply`` (as
``smsgate admin template`` does)."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from smsgate.api.responses import JsonResponse
from smsgate.console.requests import audit, int_param, operator_only, project_id_of, read, state_of
from smsgate.domain import admin as rules
from smsgate.domain import errors
from smsgate.domain import templates
from smsgate.domain.records import Template, TemplateStatus
from smsgate.store import templates as stored

_STATUS_NAMES = {s.name.lower(): s for s in TemplateStatus}


class Rejection(msgspec.Struct, forbid_unknown_fields=True):
    reason: str = ""


def template_json(template: Template, project_name: str | None = None) -> dict:
    return {"id": template.id, "project_id": template.project_id, "project_name": project_name,
            "name": template.name, "type": template.type.name.lower(),
            "status": template.status.name.lower(), "content": template.content,
            "remark": template.remark, "reply": template.reply, "created_at": template.created_at}


@operator_only
async def list_templates(request: Request) -> Response:
    """``?project_id=&status=pending|approved|rejected&limit=&offset=``"""
    params = request.query_params
    status = params.get("status") or None
    if status is not None and status not in _STATUS_NAMES:
        raise errors.BadRequest("Parameter: status is pending, approved or rejected.")
    count, found = stored.review_queue(
        state_of(request).reader.db, params.get("project_id") or None,
        _STATUS_NAMES[status] if status else None,
        int_param(request, "limit", 100, 1, 500), int_param(request, "offset", 0, 0, 10**9))
    return JsonResponse({"count": count, "templates": [template_json(t, name) for t, name in found]})


@operator_only
async def approve_template(request: Request) -> Response:
    project_id = project_id_of(request)
    template_id = templates.template_id(request.path_params["template_id"])
    state = state_of(request)
    template = await state.write(stored.set_status, state.writer.db, project_id, template_id,
                                 TemplateStatus.APPROVED, "")
    audit(request, "template_approve", project_id=project_id, template_id=template_id)
    return JsonResponse(template_json(template))


@operator_only
async def reject_template(request: Request) -> Response:
    project_id = project_id_of(request)
    template_id = templates.template_id(request.path_params["template_id"])
    reply = rules.rejection_note((await read(request, Rejection)).reason)
    state = state_of(request)
    template = await state.write(stored.set_status, state.writer.db, project_id, template_id,
                                 TemplateStatus.REJECTED, reply)
    audit(request, "template_reject", project_id=project_id, template_id=template_id)
    return JsonResponse(template_json(template))
