"""``…/sms_template``: SMS templates (SPEC §4), created, listed, shown and deleted by the
customer; reviewed by an operator (``smsgate admin template``, the console)."""

from __future__ import annotations

from starlette.requests import Request

from smsgate.api.body import decode
from smsgate.api.resources import caller, iso_utc
from smsgate.api.responses import JsonResponse, request_id
from smsgate.api.schemas import (
    LenientTemplate,
    RequestIdBody,
    SmsTemplate,
    TemplateCreated,
    TemplateListResponse,
    TemplateResponse,
)
from smsgate.api.state import AppState
from smsgate.domain import errors
from smsgate.domain import templates as rules
from smsgate.domain.records import Template
from smsgate.store import templates as stored

MAX_LIMIT = 100
MAX_OFFSET = 2**63 - 1


def template_item(template: Template) -> SmsTemplate:
    return SmsTemplate(
        sms_template_id=template.id,
        sms_template_name=template.name,
        sms_template_type=int(template.type),
        sms_template_content=template.content,
        status=int(template.status),
        reply=template.reply,
        create_time=iso_utc(template.created_at),
    )


async def create_template(request: Request) -> JsonResponse:
    """201 ``{request_id, sms_template_id}``: pending review.  Each field is ruled in turn
    (name SMN.0156, type SMN.0155, content SMN.0157 and the text rules' own codes, remark
    SMN.0082)."""
    state, project_id, body = await caller(request)
    context = state.project(project_id)
    if context is None:
        raise errors.ProjectNotFound()
    form = decode(body, LenientTemplate)
    name = rules.template_name(form.sms_template_name)
    kind = rules.template_type(form.sms_template_type)
    content = rules.content(form.sms_template_content, kind, context.rules.lexicon)
    remark = rules.remark(form.remark)
    template = await state.write(stored.create, state.writer.db, project_id, name, kind, content, remark)
    return JsonResponse(TemplateCreated(request_id=request_id(request), sms_template_id=template.id),
                        status_code=201)


async def list_templates(request: Request) -> JsonResponse:
    state, project_id, _ = await caller(request)
    params = request.query_params
    kind = params.get("sms_template_type")
    status = params.get("status")
    count, found = stored.page(
        state.reader.db, project_id,
        name=params.get("sms_template_name") or None,
        kind=rules.template_type(_int(kind, errors.TemplateTypeInvalid)) if kind else None,
        status=rules.status(status) if status else None,
        limit=_bounded(params.get("limit"), 1, MAX_LIMIT) or MAX_LIMIT,
        offset=_bounded(params.get("offset"), 0, MAX_OFFSET) or 0,
    )
    return JsonResponse(TemplateListResponse(
        request_id=request_id(request), sms_template_count=count,
        sms_templates=[template_item(t) for t in found]))


async def show_template(request: Request) -> JsonResponse:
    state, project_id, _ = await caller(request)
    template = _require(state, project_id, request.path_params["sms_template_id"])
    item = template_item(template)
    return JsonResponse(TemplateResponse(request_id=request_id(request), remark=template.remark,
                                         **{f: getattr(item, f) for f in item.__struct_fields__}))


async def delete_template(request: Request) -> JsonResponse:
    """Messages accepted with the template keep their text and still go out."""
    state, project_id, _ = await caller(request)
    template_id = rules.template_id(request.path_params["sms_template_id"])
    await state.write(stored.delete, state.writer.db, project_id, template_id)
    return JsonResponse(RequestIdBody(request_id=request_id(request)))


def _require(state: AppState, project_id: str, template_id: str) -> Template:
    return stored.get(state.reader.db, project_id, rules.template_id(template_id))


def _int(value: str, error: type[errors.SmsgateError]) -> int:
    if not (value.isascii() and value.isdigit()):
        raise error()
    return int(value)


def _bounded(value: str | None, low: int, high: int) -> int | None:
    """offset / limit: whole numbers in range, else SMN.0015."""
    if value is None or value == "":
        return None
    number = _int(value, errors.OffsetLimitInvalid)
    if not low <= number <= high:
        raise errors.OffsetLimitInvalid()
    return number
