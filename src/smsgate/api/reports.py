"""What happened to the messages (SPEC §4): the report, one message, callback subscriptions."""

from __future__ import annotations

import re

from starlette.requests import Request

from smsgate.domain.records import now_ms
from smsgate.api.body import decode
from smsgate.api.resources import caller
from smsgate.api.responses import JsonResponse, request_id
from smsgate.api.schemas import (
    BATCH_MAX_EVENTS,
    BATCH_MAX_WAIT_MS,
    CallbackBatch,
    CallbackBody,
    CallbackList,
    MessageResponse,
    ReportItem,
    ReportResponse,
    RequestIdBody,
    ShownBatch,
    ShownSubscription,
    Subscription,
)
from smsgate.auth.secrets import new_secret_key
from smsgate.callbacks.events import iso
from smsgate.callbacks.targets import CallbackGuard, check_topic_urn
from smsgate.domain import errors, phone
from smsgate.store.delivery import ReportQuery, ReportRow
from smsgate.store.outbox import EVENT_TYPES, Batching, OutboxStore

THREE_MONTHS_MS = 92 * 24 * 3_600_000
MAX_LIMIT = 100
#: the last millisecond of 9999-12-31 (UTC): a time after it names no date
MAX_TIME_MS = 253_402_300_799_999
#: the largest offset the store's integers hold (SQLite INTEGER, PostgreSQL bigint)
MAX_OFFSET = 2**63 - 1
_HEX32 = re.compile(r"[0-9a-f]{32}")


def _int(value: str | None, error: type[errors.SmsgateError], low: int, high: int) -> int | None:
    """The parameter as a whole number in ``low..high`` (ASCII digits only), or None if absent."""
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise error()
    return int(value)


def report_query(params) -> ReportQuery:
    """The report's filters, each refused with its own SMN code when malformed."""
    now = now_ms()
    end = _int(params.get("end_time"), errors.EndTimeInvalid, 0, MAX_TIME_MS) or now
    start = _int(params.get("start_time"), errors.StartTimeInvalid, 0, MAX_TIME_MS)
    start = end - THREE_MONTHS_MS if start is None else start
    if end <= start:
        raise errors.TimeRangeReversed()
    if end - start > THREE_MONTHS_MS:
        raise errors.TimeRangeTooLong()
    message_id = params.get("message_id") or None
    if message_id is not None and not _HEX32.fullmatch(message_id):
        raise errors.MessageIdInvalid()
    mobile = params.get("mobile") or None
    return ReportQuery(
        start=start,
        end=end,
        sign_id=params.get("sign_id") or None,
        message_id=message_id,
        e164=_e164(mobile) if mobile else None,
        status=_int(params.get("status"), errors.BadRequest, 0, 2),
        offset=_int(params.get("offset"), errors.OffsetLimitInvalid, 0, MAX_OFFSET) or 0,
        limit=_int(params.get("limit"), errors.OffsetLimitInvalid, 1, MAX_LIMIT) or MAX_LIMIT,
    )


def _e164(mobile: str) -> str:
    """The number searched for; one that is not valid is searched as written (finds nothing)."""
    try:
        return phone.normalize(mobile).e164
    except errors.EndpointInvalid:
        return mobile


def _item(row: ReportRow) -> ReportItem:
    return ReportItem(
        message_id=row.message_id,
        status=row.status,
        sign_id=row.sign_id,
        status_desc=row.status_desc or "",
        fee_num=row.fee_num,
        extend_code=row.extend_code or "",
        nation_code=row.nation_code,
        mobile=row.e164.removeprefix(row.nation_code),
        submit_time=iso(row.submitted_at) or "",
        deliver_time=iso(row.done_at) or "",
    )


async def report(request: Request) -> JsonResponse:
    state, project_id, _ = await caller(request)
    count, rows = state.delivery_reader.report(project_id, report_query(request.query_params))
    return JsonResponse(ReportResponse(request_id(request), count, [_item(r) for r in rows]))


async def message(request: Request) -> JsonResponse:
    state, project_id, _ = await caller(request)
    message_id = request.path_params["message_id"]
    if not _HEX32.fullmatch(message_id):
        raise errors.MessageIdInvalid()
    row = state.delivery_reader.report_row(project_id, message_id)
    if row is None:
        raise errors.MessageNotFound()
    return JsonResponse(MessageResponse(request_id(request), _item(row)))


async def list_callbacks(request: Request) -> JsonResponse:
    state, project_id, _ = await caller(request)
    event_type = request.query_params.get("event_type") or None
    if event_type is not None and event_type not in EVENT_TYPES:
        raise errors.EventTypeInvalid()
    return JsonResponse(CallbackList(request_id(request), subscriptions(state.outbox_reader, project_id, event_type)))


async def put_callbacks(request: Request) -> JsonResponse:
    state, project_id, raw = await caller(request)
    body = decode(raw, CallbackBody)
    subs = await checked_subscriptions(body.callback, state.callback_guard)
    signing_key = state.secrets.seal(new_secret_key())  # kept only if the project has none
    await state.write(state.outbox_writer.subscribe, project_id, subs, signing_key)
    return JsonResponse(RequestIdBody(request_id(request)))


def subscriptions(outbox: OutboxStore, project_id: str, event_type: str | None = None) -> list[ShownSubscription]:
    """A project's subscriptions as the API shows them (``batch`` only where asked for)."""
    batching = outbox.batching(project_id)
    return [ShownSubscription(e, u, _batch(batching.get(e))) for e, u in outbox.subscriptions(project_id, event_type)]


def _batch(batching: Batching | None) -> ShownBatch | None:
    return ShownBatch(batching.max_events, batching.max_wait_ms) if batching else None


async def checked_subscriptions(callback: list[Subscription], guard: CallbackGuard,
                                ) -> list[tuple[str, str, Batching | None]]:
    """What a subscription may be (the API's PUT and the console's both ask this): a known event
    type (400 SMN.0100), a topic_urn as :func:`check_topic_urn` allows, and a batch within its
    bounds (400 SMN.0024); as the store takes them."""
    for sub in callback:
        if sub.event_type not in EVENT_TYPES:
            raise errors.EventTypeInvalid()
        await check_topic_urn(sub.topic_urn, guard)
    return [(s.event_type, s.topic_urn, batching_of(s.batch)) for s in callback]


def batching_of(batch: CallbackBatch | None) -> Batching | None:
    if batch is None:
        return None
    max_events, max_wait_ms = _whole(batch.max_events), _whole(batch.max_wait_ms)
    if max_events is None or max_wait_ms is None or not (
            1 <= max_events <= BATCH_MAX_EVENTS and 0 <= max_wait_ms <= BATCH_MAX_WAIT_MS):
        raise errors.CallbackBatchInvalid()
    return Batching(max_events, max_wait_ms)


def _whole(number: int | float) -> int | None:
    if isinstance(number, float):
        return int(number) if number.is_integer() else None
    return number

