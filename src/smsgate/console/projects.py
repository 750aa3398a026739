"""``/console/api/projects``: projects, their settings, access keys and callback
subscriptions."""

from __future__ import annotations


import msgspec
from starlette.requests import Request
from starlette.responses import Response

from smsgate.api.responses import JsonResponse
from smsgate.api.reports import checked_subscriptions
from smsgate.api.schemas import CallbackBody
from smsgate.api.state import AppState
from smsgate.auth.secrets import new_access_key, new_secret_key
from smsgate.console.requests import audit, operator_only, project_id_of, read, state_of
from smsgate.console.signs import sign_json
from smsgate.domain import admin as rules
from smsgate.domain import errors
from smsgate.domain.records import Project
from smsgate.store import projects


class NewProject(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    enterprise: bool = False
    grants: list[str] = []


class ProjectEdit(msgspec.Struct, forbid_unknown_fields=True):
    """Absent: unchanged; null (or ""): back to the service default."""

    enterprise: bool | None = None
    grants: list[str] | None = None
    daily_cap: int | None | msgspec.UnsetType = msgspec.UNSET
    send_window: str | None | msgspec.UnsetType = msgspec.UNSET


def project_json(project: Project) -> dict:
    return {"id": project.id, "name": project.name, "enterprise": project.enterprise,
            "grants": sorted(project.grants), "daily_cap": project.daily_cap,
            "send_window": project.send_window, "version": project.version,
            "created_at": project.created_at, "may_promote": project.may_promote}


@operator_only
async def list_projects(request: Request) -> Response:
    return JsonResponse({"projects": projects.overview(state_of(request).reader.db)})


@operator_only
async def create_project(request: Request) -> Response:
    body = await read(request, NewProject)
    name, grants = rules.project_name(body.name), rules.grants(body.grants)
    state = state_of(request)
    project = await state.write(state.writer.create_project, name, body.enterprise, grants)
    audit(request, "project_create", project_id=project.id)
    return JsonResponse(project_json(project), status_code=201)


@operator_only
async def show_project(request: Request) -> Response:
    project_id = request.path_params["project_id"]
    state = state_of(request)
    reader = state.reader
    project = reader.require_project(project_id)
    return JsonResponse({
        "project": project_json(project),
        "signs": [sign_json(s) for s in reader.list_signs(project_id)],
        "keys": projects.access_keys(reader.db, project_id),
        "words": reader.words(project_id),
        **_callbacks(state, project_id),
    })


@operator_only
async def edit_project(request: Request) -> Response:
    project_id = project_id_of(request)
    body = await read(request, ProjectEdit)
    changes: dict[str, object] = {}
    reset: list[str] = []
    if body.enterprise is not None:
        changes["enterprise"] = int(body.enterprise)
    if body.grants is not None:
        changes["grants"] = rules.grants(body.grants)
    if body.daily_cap is None:
        reset.append("daily_cap")
    elif body.daily_cap is not msgspec.UNSET:
        changes["daily_cap"] = rules.daily_cap(body.daily_cap)
    if body.send_window is None or body.send_window == "":
        reset.append("send_window")
    elif body.send_window is not msgspec.UNSET:
        changes["send_window"] = rules.send_window(body.send_window)
    state = state_of(request)
    project = await state.write(projects.edit_project, state.writer, project_id, changes, tuple(reset))
    audit(request, "project_edit", project_id=project_id, fields=sorted([*changes, *reset]))
    return JsonResponse(project_json(project))


@operator_only
async def create_key(request: Request) -> Response:
    project_id = project_id_of(request)
    state = state_of(request)
    access_key, secret_key = new_access_key(), new_secret_key()
    await state.write(state.writer.add_access_key, project_id, access_key, state.secrets.seal(secret_key))
    audit(request, "key_create", project_id=project_id, access_key=access_key)
    return JsonResponse({"access_key": access_key, "secret_key": secret_key}, status_code=201,
                        headers={"Cache-Control": "no-store"})


@operator_only
async def revoke_key(request: Request) -> Response:
    project_id = project_id_of(request)
    access_key = request.path_params["access_key"]
    state = state_of(request)
    if projects.key_project(state.reader.db, access_key) != project_id:
        raise KeyNotFound()
    if not await state.write(state.writer.revoke_access_key, access_key):
        raise KeyNotFound("The access key is already revoked.")
    audit(request, "key_revoke", project_id=project_id, access_key=access_key)
    return JsonResponse({"access_key": access_key, "revoked": True})


class KeyNotFound(errors.SmsgateError):
    """**decision**: SMN names no code for a missing access key; SMN.0024 with a 404."""

    code = "SMN.0024"
    status = 404
    default_message = "The access key does not exist in this project."


@operator_only
async def get_callbacks(request: Request) -> Response:
    project_id = project_id_of(request)
    return JsonResponse(_callbacks(state_of(request), project_id))


@operator_only
async def put_callbacks(request: Request) -> Response:
    """As ``PUT /v2/{project_id}/notifications/sms/callback``: the same checks, the same store
    write (an empty topic_urn removes the subscription)."""
    project_id = project_id_of(request)
    body = await read(request, CallbackBody)
    state = state_of(request)
    subs = await checked_subscriptions(body.callback, state.callback_guard)
    await state.write(state.outbox_writer.subscribe, project_id, subs, state.secrets.seal(new_secret_key()))
    audit(request, "callbacks_set", project_id=project_id)
    return JsonResponse(_callbacks(state, project_id))


def _callbacks(state: AppState, project_id: str) -> dict:
    """event type -> topic_urn, and event type -> batch where one is asked for."""
    batches = state.outbox_reader.batching(project_id)
    return {"callbacks": dict(state.outbox_reader.subscriptions(project_id)),
            "batches": {e: {"max_events": b.max_events, "max_wait_ms": b.max_wait_ms} for e, b in batches.items()}}
