"""``/console``: the single-page app and its JSON API.

Every ``/console/api`` route but the login refuses without a session (401); every call that
changes something also needs the ``X-Smsgate-Console`` header (see ``console.auth``).  Errors are
the service's own (``SmsgateError`` → ``api.responses``).  Writes go through ``AppState.write``
(the single writer thread) and use the store's own methods where it has them.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Literal

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smsgate.api import promotion
from smsgate.api.body import decode, read_body
from smsgate.api.reports import checked_subscriptions
from smsgate.api.responses import JsonResponse, request_id
from smsgate.api.schemas import CallbackBody
from smsgate.api.state import AppState
from smsgate.auth.secrets import new_access_key, new_secret_key
from smsgate.console import auth, queries, writes
from smsgate.domain import errors, phone, signatures
from smsgate.domain.records import Project, Sign, SignStatus, SignType, now_ms
from smsgate.domain.window import SendWindow
from smsgate.store.outbox import EVENT_TYPES

log = logging.getLogger("smsgate.console")

MAX_BODY = 1024 * 1024
#: the login is the one call anybody may make: a name and a password, never more than this
MAX_LOGIN_BODY = 16 * 1024
_HEX32 = re.compile(r"[0-9a-f]{32}")

#: why a signature is rejected; the code (and the operator's note) goes to the customer in
#: the signature's ``reply``
REJECT_REASONS = {
    "NAME_MISMATCH": "The name does not match the applicant's company, app or brand.",
    "MISSING_PROOF": "Supporting documents are missing or unreadable.",
    "TRADEMARK": "The name infringes a trademark or impersonates another party.",
    "PROHIBITED": "The name contains prohibited or misleading content.",
    "OTHER": "Another reason (see the note).",
}
_SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
     b" connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


# --- request bodies --------------------------------------------------------------------------


class LoginBody(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    password: str


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


class NewSign(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    type: Literal["promotional", "notification"] = "promotional"


class Rejection(msgspec.Struct, forbid_unknown_fields=True):
    reason_code: str
    note: str = ""


class Words(msgspec.Struct, forbid_unknown_fields=True):
    words: list[str]


class TextBody(msgspec.Struct, forbid_unknown_fields=True):
    text: str


class OptoutsBody(msgspec.Struct, forbid_unknown_fields=True):
    sign_id: str
    numbers: list[str]


class OptoutRemoval(msgspec.Struct, forbid_unknown_fields=True):
    sign_id: str
    number: str


class TestBatch(msgspec.Struct, forbid_unknown_fields=True):
    sign_id: str
    numbers: list[str]
    text: str


# --- plumbing --------------------------------------------------------------------------------


Handler = Callable[[Request], Awaitable[Response]]


def _state(request: Request) -> AppState:
    return request.app.state.smsgate


async def _body(request: Request, kind: type, limit: int = MAX_BODY):
    return decode(await read_body(request, limit), kind)


def _audit(request: Request, action: str, **fields: object) -> None:
    log.info("console_action", extra={"operator": request.state.operator, "action": action, **fields})


def operator_only(handler: Handler) -> Handler:
    """A session first (401), then, for a call that changes something, the CSRF header (403)."""

    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        request.state.operator = auth.current_session(request).operator
        if request.method not in ("GET", "HEAD"):
            auth.check_csrf(request)
        return await handler(request)

    guarded.__name__ = f"console_{handler.__name__}"
    return guarded


def _project_id(request: Request) -> str:
    project_id = request.path_params["project_id"]
    _state(request).reader.require_project(project_id)
    return project_id


def _sign_json(sign: Sign) -> dict:
    return {"id": sign.id, "name": sign.name, "type": sign.type.name.lower(),
            "status": sign.status.name.lower(), "reply": sign.reply, "created_at": sign.created_at}


def _project_json(project: Project) -> dict:
    return {"id": project.id, "name": project.name, "enterprise": project.enterprise,
            "grants": sorted(project.grants), "daily_cap": project.daily_cap,
            "send_window": project.send_window, "version": project.version,
            "created_at": project.created_at, "may_promote": project.may_promote}


def _e164(number: str) -> str:
    try:
        return phone.normalize(number).e164
    except errors.EndpointInvalid:
        raise errors.EndpointInvalid(f"Parameter: {number!r} is not a valid phone number.") from None


def _grants(grants: list[str]) -> list[str]:
    cleaned = sorted({g.strip() for g in grants if g.strip()})
    if any(not re.fullmatch(r"[a-z0-9_.-]{1,32}", g) for g in cleaned):
        raise errors.BadRequest("A grant is 1-32 lower-case letters, digits, '_', '.' or '-'.")
    return cleaned


# --- the session -----------------------------------------------------------------------------


async def index(request: Request) -> Response:
    html = resources.files("smsgate.console").joinpath("static/index.html").read_text("utf-8")
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


async def login(request: Request) -> Response:
    auth.check_csrf(request)
    body = await _body(request, LoginBody, MAX_LOGIN_BODY)
    state = _state(request)
    address = request.client.host if request.client else ""
    stored = await auth.check_login(state.reader.db, body.name, body.password,
                                    auth.throttle_of(request), address)
    cookie, session = auth.sessions_of(request).issue(body.name, stored, now_ms())
    response = JsonResponse({"operator": session.operator, "expires_at": session.expires_at})
    response.set_cookie(auth.SESSION_COOKIE, cookie, max_age=auth.sessions_of(request).ttl_ms // 1000,
                        path="/console", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    log.info("console_login", extra={"operator": session.operator})
    return response


@operator_only
async def logout(request: Request) -> Response:
    response = JsonResponse({"request_id": request_id(request)})
    response.delete_cookie(auth.SESSION_COOKIE, path="/console", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
    return response


@operator_only
async def session(request: Request) -> Response:
    current = auth.current_session(request)
    return JsonResponse({"operator": current.operator, "expires_at": current.expires_at})


@operator_only
async def meta(request: Request) -> Response:
    settings = _state(request).settings
    return JsonResponse({
        "states": queries.STATES,
        "event_types": EVENT_TYPES,
        "reject_reasons": REJECT_REASONS,
        "defaults": {"daily_cap": settings.daily_cap, "send_window": settings.send_window,
                     "timezone": settings.timezone},
    })


# --- projects --------------------------------------------------------------------------------


@operator_only
async def list_projects(request: Request) -> Response:
    return JsonResponse({"projects": queries.projects(_state(request).reader.db)})


@operator_only
async def create_project(request: Request) -> Response:
    body = await _body(request, NewProject)
    name = body.name.strip()
    if not 1 <= len(name) <= 64:
        raise errors.BadRequest("A project name has 1-64 characters.")
    state = _state(request)
    project = await state.write(state.writer.create_project, name, body.enterprise, _grants(body.grants))
    _audit(request, "project_create", project_id=project.id)
    return JsonResponse(_project_json(project), status_code=201)


@operator_only
async def show_project(request: Request) -> Response:
    project_id = request.path_params["project_id"]
    state = _state(request)
    reader = state.reader
    project = reader.require_project(project_id)
    return JsonResponse({
        "project": _project_json(project),
        "signs": [_sign_json(s) for s in reader.list_signs(project_id)],
        "keys": queries.access_keys(reader.db, project_id),
        "words": reader.words(project_id),
        **_callbacks(state, project_id),
    })


@operator_only
async def edit_project(request: Request) -> Response:
    project_id = _project_id(request)
    body = await _body(request, ProjectEdit)
    changes: dict[str, object] = {}
    reset: list[str] = []
    if body.enterprise is not None:
        changes["enterprise"] = int(body.enterprise)
    if body.grants is not None:
        changes["grants"] = _grants(body.grants)
    if body.daily_cap is None:
        reset.append("daily_cap")
    elif body.daily_cap is not msgspec.UNSET:
        if not 1 <= body.daily_cap <= 1_000_000:
            raise errors.BadRequest("Parameter: daily_cap is 1 to 1000000 (or null: the default).")
        changes["daily_cap"] = body.daily_cap
    if body.send_window is None or body.send_window == "":
        reset.append("send_window")
    elif body.send_window is not msgspec.UNSET:
        changes["send_window"] = str(SendWindow.parse(body.send_window))
    state = _state(request)
    project = await state.write(writes.edit_project, state.writer, project_id, changes, tuple(reset))
    _audit(request, "project_edit", project_id=project_id, fields=sorted([*changes, *reset]))
    return JsonResponse(_project_json(project))


# --- access keys -----------------------------------------------------------------------------


@operator_only
async def create_key(request: Request) -> Response:
    project_id = _project_id(request)
    state = _state(request)
    access_key, secret_key = new_access_key(), new_secret_key()
    await state.write(state.writer.add_access_key, project_id, access_key, state.secrets.seal(secret_key))
    _audit(request, "key_create", project_id=project_id, access_key=access_key)
    return JsonResponse({"access_key": access_key, "secret_key": secret_key}, status_code=201,
                        headers={"Cache-Control": "no-store"})


@operator_only
async def revoke_key(request: Request) -> Response:
    project_id = _project_id(request)
    access_key = request.path_params["access_key"]
    state = _state(request)
    if queries.key_project(state.reader.db, access_key) != project_id:
        raise KeyNotFound()
    if not await state.write(state.writer.revoke_access_key, access_key):
        raise KeyNotFound("The access key is already revoked.")
    _audit(request, "key_revoke", project_id=project_id, access_key=access_key)
    return JsonResponse({"access_key": access_key, "revoked": True})


class KeyNotFound(errors.SmsgateError):
    """**decision**: SMN names no code for a missing access key; SMN.0024 with a 404."""

    code = "SMN.0024"
    status = 404
    default_message = "The access key does not exist in this project."


# --- signatures ------------------------------------------------------------------------------


@operator_only
async def create_sign(request: Request) -> Response:
    project_id = _project_id(request)
    body = await _body(request, NewSign)
    kind = SignType.PROMOTIONAL if body.type == "promotional" else SignType.NOTIFICATION
    state = _state(request)
    sign = await state.write(state.writer.create_sign, project_id, signatures.validate_name(body.name), kind)
    _audit(request, "sign_create", project_id=project_id, sign_id=sign.id)
    return JsonResponse(_sign_json(sign), status_code=201)


@operator_only
async def approve_sign(request: Request) -> Response:
    project_id = _project_id(request)
    sign_id = request.path_params["sign_id"]
    state = _state(request)
    sign = await state.write(state.writer.set_sign_status, project_id, sign_id, SignStatus.APPROVED, "")
    _audit(request, "sign_approve", project_id=project_id, sign_id=sign_id)
    return JsonResponse(_sign_json(sign))


@operator_only
async def reject_sign(request: Request) -> Response:
    project_id = _project_id(request)
    sign_id = request.path_params["sign_id"]
    body = await _body(request, Rejection)
    if body.reason_code not in REJECT_REASONS:
        raise errors.BadRequest(f"Parameter: reason_code is one of {', '.join(REJECT_REASONS)}.")
    note = body.note.strip()
    if len(note) > 200:
        raise errors.BadRequest("Parameter: the note has at most 200 characters.")
    reply = f"{body.reason_code}: {note}" if note else body.reason_code
    state = _state(request)
    sign = await state.write(state.writer.set_sign_status, project_id, sign_id, SignStatus.REJECTED, reply)
    _audit(request, "sign_reject", project_id=project_id, sign_id=sign_id, reason=body.reason_code)
    return JsonResponse(_sign_json(sign))


# --- the sensitive-word lexicon --------------------------------------------------------------


def _clean_words(words: list[str]) -> list[str]:
    cleaned = sorted({w.strip() for w in words if w.strip()})
    if not cleaned:
        raise errors.BadRequest("Parameter: give at least one word.")
    if any(len(w) > 64 for w in cleaned):
        raise errors.BadRequest("Parameter: a word has at most 64 characters.")
    return cleaned


@operator_only
async def add_words(request: Request) -> Response:
    project_id = _project_id(request)
    words = _clean_words((await _body(request, Words)).words)
    state = _state(request)
    added = await state.write(state.writer.add_words, project_id, words)
    _audit(request, "words_add", project_id=project_id, count=len(words))
    return JsonResponse({"added": added, "words": state.reader.words(project_id)})


@operator_only
async def remove_words(request: Request) -> Response:
    project_id = _project_id(request)
    words = _clean_words((await _body(request, Words)).words)
    state = _state(request)
    removed = await state.write(state.writer.remove_words, project_id, words)
    _audit(request, "words_remove", project_id=project_id, count=len(words))
    return JsonResponse({"removed": removed, "words": state.reader.words(project_id)})


@operator_only
async def test_text(request: Request) -> Response:
    """Every lexicon entry (the built-in ones and the project's) found in a text, where the
    sender's spelling of it starts: what the accept path would refuse it for."""
    project_id = _project_id(request)
    text = (await _body(request, TextBody)).text
    if len(text) > 2000:
        raise errors.BadRequest("Parameter: text has at most 2000 characters.")
    state = _state(request)
    context = state.project(project_id)
    if context is None:
        raise errors.ProjectNotFound()
    own = set(state.reader.words(project_id))
    matches = [{"position": position, "word": word, "source": "project" if word in own else "built-in"}
               for position, word in context.rules.lexicon.find_all(text)]
    first = context.rules.lexicon.find(text)
    return JsonResponse({"matches": matches, "refused_for": first})


# --- opt-outs --------------------------------------------------------------------------------


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise errors.OffsetLimitInvalid(f"Parameter: {name} is {low} to {high}.")
    return int(raw)


@operator_only
async def list_optouts(request: Request) -> Response:
    project_id = _project_id(request)
    number = request.query_params.get("number") or None
    count, rows = queries.optouts(
        _state(request).reader.db, project_id,
        request.query_params.get("sign_id") or None,
        _e164(number) if number else None,
        _int_param(request, "limit", 100, 1, 500), _int_param(request, "offset", 0, 0, 10**9),
    )
    return JsonResponse({"count": count, "optouts": rows})


@operator_only
async def add_optouts(request: Request) -> Response:
    project_id = _project_id(request)
    body = await _body(request, OptoutsBody)
    numbers = sorted({_e164(n) for n in body.numbers if n.strip()})
    if not numbers or len(numbers) > 1000:
        raise errors.BadRequest("Parameter: give 1 to 1000 numbers.")
    state = _state(request)
    added = await state.write(state.writer.add_optouts, project_id, body.sign_id, numbers)
    _audit(request, "optouts_add", project_id=project_id, sign_id=body.sign_id, count=len(numbers))
    return JsonResponse({"added": added})


@operator_only
async def remove_optout(request: Request) -> Response:
    project_id = _project_id(request)
    body = await _body(request, OptoutRemoval)
    state = _state(request)
    removed = await state.write(writes.remove_optout, state.writer.db, project_id, body.sign_id,
                                _e164(body.number))
    _audit(request, "optout_remove", project_id=project_id, sign_id=body.sign_id)
    return JsonResponse({"removed": removed})


# --- callbacks -------------------------------------------------------------------------------


@operator_only
async def get_callbacks(request: Request) -> Response:
    project_id = _project_id(request)
    return JsonResponse(_callbacks(_state(request), project_id))


@operator_only
async def put_callbacks(request: Request) -> Response:
    """As ``PUT /v2/{project_id}/notifications/sms/callback``: the same checks, the same store
    write (an empty topic_urn removes the subscription)."""
    project_id = _project_id(request)
    body = await _body(request, CallbackBody)
    state = _state(request)
    subs = await checked_subscriptions(body.callback, state.callback_guard)
    await state.write(state.outbox_writer.subscribe, project_id, subs, state.secrets.seal(new_secret_key()))
    _audit(request, "callbacks_set", project_id=project_id)
    return JsonResponse(_callbacks(state, project_id))


def _callbacks(state: AppState, project_id: str) -> dict:
    """event type -> topic_urn, and event type -> batch where one is asked for."""
    batches = state.outbox_reader.batching(project_id)
    return {"callbacks": dict(state.outbox_reader.subscriptions(project_id)),
            "batches": {e: {"max_events": b.max_events, "max_wait_ms": b.max_wait_ms} for e, b in batches.items()}}


# --- a test batch, through the public API's accept path --------------------------------------


@operator_only
async def test_batch(request: Request) -> Response:
    """The headline call's accept path for one text to a few numbers: the same item parsing,
    rules, rate, store checks, commit and per-item results (``promotion.accept``)."""
    project_id = _project_id(request)
    body = await _body(request, TestBatch)
    state = _state(request)
    context = state.project(project_id)
    if context is None:
        raise errors.ProjectNotFound()
    if not context.project.may_promote:
        raise errors.NoApiPermission("The project needs the enterprise type and the promotion grant.")
    items = [{"endpoint": n.strip(), "message": body.text, "sign_id": body.sign_id}
             for n in body.numbers if n.strip()]
    parsed = promotion.parse_items(msgspec.json.encode({"sms_message": items}))
    outcomes = promotion.screen_items(parsed, context)
    results = await promotion.accept(state, context, request_id(request), parsed, outcomes)
    assert isinstance(results, list)  # no idempotency key: never a replay
    accepted = sum(1 for r in results if r.code is None)
    _audit(request, "test_batch", project_id=project_id, items=len(results), accepted=accepted)
    return JsonResponse({"request_id": request_id(request), "result": results})


# --- messages --------------------------------------------------------------------------------


def _ms_param(request: Request, name: str, error: type[errors.SmsgateError]) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    if not raw.isdigit() or len(raw) > 15:
        raise error()
    return int(raw)


@operator_only
async def search_messages(request: Request) -> Response:
    q = request.query_params
    message_id = (q.get("message_id") or "").strip().lower() or None
    if message_id is not None and not _HEX32.fullmatch(message_id):
        raise errors.MessageIdInvalid()
    state_filter = (q.get("state") or "").upper() or None
    if state_filter is not None and state_filter not in queries.STATES:
        raise errors.BadRequest(f"Parameter: state is one of {', '.join(queries.STATES)}.")
    sign = (q.get("sign") or "").strip() or None
    number = (q.get("number") or "").strip() or None
    start = _ms_param(request, "start", errors.StartTimeInvalid)
    end = _ms_param(request, "end", errors.EndTimeInvalid)
    if start is not None and end is not None and end <= start:
        raise errors.TimeRangeReversed()
    found = queries.MessageFilter(
        project_id=q.get("project_id") or None,
        e164=_e164_or_raw(number) if number else None,
        message_id=message_id,
        sign_id=sign if sign and _HEX32.fullmatch(sign) else None,
        sign_name=sign if sign and not _HEX32.fullmatch(sign) else None,
        state=state_filter,
        start=start,
        end=end,
        limit=_int_param(request, "limit", 50, 1, 200),
        offset=_int_param(request, "offset", 0, 0, 10**9),
    )
    rows, more = queries.search_messages(_state(request).reader.db, found)
    return JsonResponse({"messages": rows, "more": more})


def _e164_or_raw(number: str) -> str:
    """A number searched for; one that is not valid is searched as written (finds nothing)."""
    try:
        return phone.normalize(number).e164
    except errors.EndpointInvalid:
        return number


@operator_only
async def message_history(request: Request) -> Response:
    message_id = request.path_params["message_id"]
    if not _HEX32.fullmatch(message_id):
        raise errors.MessageIdInvalid()
    history = queries.message_history(_state(request).reader.db, message_id, now_ms())
    if history is None:
        raise errors.MessageNotFound()
    return JsonResponse(history)


# --- the dashboard ---------------------------------------------------------------------------


def _refusals(state: AppState) -> tuple[int, dict[str, int]]:
    """Items accepted and refused (by code) since the server started: the metrics' counters."""
    accepted, refused = 0, {}
    for family in (*state.metrics.accepted.collect(), *state.metrics.refused.collect()):
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            if "code" in sample.labels:
                refused[sample.labels["code"]] = int(sample.value)
            else:
                accepted = int(sample.value)
    return accepted, dict(sorted(refused.items(), key=lambda kv: -kv[1]))


@operator_only
async def dashboard(request: Request) -> Response:
    state = _state(request)
    minutes = _int_param(request, "minutes", 60, 5, 24 * 60)
    data = queries.dashboard(state.reader.db, now_ms(), minutes)
    accepted, refused = _refusals(state)
    data["since_start"] = {"accepted": accepted, "refused": refused}
    return JsonResponse(data)


# --- mounting --------------------------------------------------------------------------------


class SecurityHeaders:
    """The console's pages and answers: no framing, no sniffing, scripts and styles from here
    only, no referrer; API answers are never cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope["path"].startswith("/console/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += _SECURITY_HEADERS
                if api:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def api_routes() -> list[Route]:
    p = "/api/projects/{project_id}"
    return [
        Route("/api/login", login, methods=["POST"]),
        Route("/api/logout", logout, methods=["POST"]),
        Route("/api/session", session, methods=["GET"]),
        Route("/api/meta", meta, methods=["GET"]),
        Route("/api/projects", list_projects, methods=["GET"]),
        Route("/api/projects", create_project, methods=["POST"]),
        Route(p, show_project, methods=["GET"]),
        Route(p, edit_project, methods=["PUT"]),
        Route(f"{p}/keys", create_key, methods=["POST"]),
        Route(f"{p}/keys/{{access_key}}/revoke", revoke_key, methods=["POST"]),
        Route(f"{p}/signs", create_sign, methods=["POST"]),
        Route(f"{p}/signs/{{sign_id}}/approve", approve_sign, methods=["POST"]),
        Route(f"{p}/signs/{{sign_id}}/reject", reject_sign, methods=["POST"]),
        Route(f"{p}/words", add_words, methods=["POST"]),
        Route(f"{p}/words/remove", remove_words, methods=["POST"]),
        Route(f"{p}/words/test", test_text, methods=["POST"]),
        Route(f"{p}/optouts", list_optouts, methods=["GET"]),
        Route(f"{p}/optouts", add_optouts, methods=["POST"]),
        Route(f"{p}/optouts/remove", remove_optout, methods=["POST"]),
        Route(f"{p}/callbacks", get_callbacks, methods=["GET"]),
        Route(f"{p}/callbacks", put_callbacks, methods=["PUT"]),
        Route(f"{p}/test-batch", test_batch, methods=["POST"]),
        Route("/api/messages", search_messages, methods=["GET"]),
        Route("/api/messages/{message_id}", message_history, methods=["GET"]),
        Route("/api/dashboard", dashboard, methods=["GET"]),
    ]


def mount() -> Mount:
    """``/console``: the app shell, its static files and the JSON API."""
    router = Router(routes=[
        Route("/", index, methods=["GET"]),
        Mount("/static", app=StaticFiles(packages=[("smsgate.console", "static")])),
        *api_routes(),
    ])
    return Mount("/console", app=SecurityHeaders(router))
