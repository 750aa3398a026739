"""``/console/api/messages`` and the test batch: search, a message's story (the store's record of
it, ``store.history``, told as a time-ordered list of events, with the carrier its number
belongs to), and a test batch sent through the public API's accept path."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from smsgate.domain.states import FINAL, MessageState
from smsgate.api.accept import accept_batch
from smsgate.api.responses import JsonResponse, request_id
from smsgate.console.requests import (
    HEX32,
    audit,
    int_param,
    operator_only,
    project_id_of,
    read,
    state_of,
)
from smsgate.dispatch.router import CARRIER_PREFIXES
from smsgate.domain import errors, phone
from smsgate.domain.records import now_ms
from smsgate.store import history
from smsgate.store.db import Db
from smsgate.store.history import message_history as stored_history

_CARRIER_OF = {f"+86{p}": name for name, prefixes in CARRIER_PREFIXES.items() for p in prefixes}


def carrier_of(e164: str) -> str:
    """cn-mobile / cn-unicom / cn-telecom (the router's prefix groups), cn-other, or
    international."""
    if not e164.startswith("+86"):
        return "international"
    return _CARRIER_OF.get(e164[:6], "cn-other")


def message_story(db: Db, message_id: str, now: int) -> dict | None:
    """Everything known of one message, and its story as a time-ordered list of events."""
    found = stored_history(db, message_id)
    if found is None:
        return None
    message = found["message"]
    return {
        "message": message,
        "carrier": carrier_of(message["e164"]),
        "parts": found["parts"],
        "callbacks": found["callbacks"],
        "replies": found["replies"],
        "opted_out_at": found["opted_out_at"],
        "events": _events(message, found["parts"], found["callbacks"], found["replies"], now),
    }


def _events(message: dict, parts: list[dict], callbacks: list[dict], replies: list[dict],
            now: int) -> list[dict]:
    events = [{"at": message["accepted_at"], "kind": "accepted",
               "detail": f"request {message['request_id']}"}]
    state, attempts = message["state"], message["attempts"]
    if state == MessageState.QUEUED and message["next_attempt_at"] > now:
        if attempts:
            events.append({"at": message["next_attempt_at"], "kind": "retry scheduled",
                           "detail": f"after {attempts} attempt(s): {message['status_desc'] or ''}"})
        else:
            events.append({"at": message["next_attempt_at"], "kind": "held",
                           "detail": "outside the sending window until then"})
    elif attempts:
        events.append({"at": None, "kind": "retried",
                       "detail": f"{attempts} earlier attempt(s) failed for a passing reason"})
    if state == MessageState.SENDING:
        events.append({"at": message["lease_until"], "kind": "sending",
                       "detail": "claimed by a dispatcher (lease until then)"})
    for part in parts:
        if part["submitted_at"] is not None:
            events.append({"at": part["submitted_at"], "kind": "part submitted",
                           "detail": f"part {part['idx']}/{part['total']} on {message['channel'] or '?'},"
                                     f" carrier id {part['carrier_id']}"})
        if part["stat"] is not None:
            events.append({"at": part["done_at"], "kind": "receipt",
                           "detail": f"part {part['idx']}/{part['total']}: {part['stat']}"
                                     + (f" (err {part['err']})" if part["err"] else "")})
    if state in FINAL:
        events.append({"at": message["done_at"], "kind": state.lower(),
                       "detail": message["status_desc"] or ""})
    for callback in callbacks:
        detail = f"{callback['state']} after {callback['attempts']} attempt(s) to {callback['url']}"
        if callback["last_error"]:
            detail += f"; last error: {callback['last_error']}"
        events.append({"at": callback["created_at"], "kind": "callback", "detail": detail})
    for reply in replies:
        events.append({"at": reply["received_at"], "kind": "reply", "detail": reply["text"]})
    dated = sorted((e for e in events if e["at"] is not None), key=lambda e: e["at"])
    return dated + [e for e in events if e["at"] is None]



class TestBatch(msgspec.Struct, forbid_unknown_fields=True):
    sign_id: str
    numbers: list[str]
    text: str


@operator_only
async def test_batch(request: Request) -> Response:
    """The headline call's accept path for one text to a few numbers: the same item parsing,
    rules, rate, store checks, commit and per-item results (``api.accept``)."""
    project_id = project_id_of(request)
    body = await read(request, TestBatch)
    state = state_of(request)
    context = state.project(project_id)
    if context is None:
        raise errors.ProjectNotFound()
    if not context.project.may_promote:
        raise errors.NoApiPermission("The project needs the enterprise type and the promotion grant.")
    items = [{"endpoint": n.strip(), "message": body.text, "sign_id": body.sign_id}
             for n in body.numbers if n.strip()]
    body_json = msgspec.json.encode({"sms_message": items})
    results = await accept_batch(state, context, request_id(request), body_json)
    assert isinstance(results, list)  # no idempotency key: never a replay
    accepted = sum(1 for r in results if r.code is None)
    audit(request, "test_batch", project_id=project_id, items=len(results), accepted=accepted)
    return JsonResponse({"request_id": request_id(request), "result": results})


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
    if message_id is not None and not HEX32.fullmatch(message_id):
        raise errors.MessageIdInvalid()
    state_filter = (q.get("state") or "").upper() or None
    if state_filter is not None and state_filter not in history.STATES:
        raise errors.BadRequest(f"Parameter: state is one of {', '.join(history.STATES)}.")
    sign = (q.get("sign") or "").strip() or None
    number = (q.get("number") or "").strip() or None
    start = _ms_param(request, "start", errors.StartTimeInvalid)
    end = _ms_param(request, "end", errors.EndTimeInvalid)
    if start is not None and end is not None and end <= start:
        raise errors.TimeRangeReversed()
    found = history.MessageFilter(
        project_id=q.get("project_id") or None,
        e164=_e164_or_raw(number) if number else None,
        message_id=message_id,
        sign_id=sign if sign and HEX32.fullmatch(sign) else None,
        sign_name=sign if sign and not HEX32.fullmatch(sign) else None,
        state=state_filter,
        start=start,
        end=end,
        limit=int_param(request, "limit", 50, 1, 200),
        offset=int_param(request, "offset", 0, 0, 10**9),
    )
    rows, more = history.search_messages(state_of(request).reader.db, found)
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
    if not HEX32.fullmatch(message_id):
        raise errors.MessageIdInvalid()
    history = message_story(state_of(request).reader.db, message_id, now_ms())
    if history is None:
        raise errors.MessageNotFound()
    return JsonResponse(history)
