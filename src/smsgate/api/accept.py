"""The accept path: a batch's items parsed, screened by the rules, checked against the store
(the project's rate, opt-outs, daily caps) and committed, with a result per item.

One path for every way in: ``POST /v2/{project_id}/notifications/sms/promotion``
(``api.promotion``, and its dry run) and the console's "Send a test batch" call these same
functions; only the route around them differs.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

import msgspec

from smsgate.api.body import decode
from smsgate.api.schemas import (
    CommitResult,
    LenientRequest,
    PromotionRequest,
    PromotionResponse,
    SmsMessage,
)
from smsgate.api.state import AnswerKey, AppState, ProjectContext
from smsgate.domain import errors
from smsgate.domain.accept import screen
from smsgate.domain.records import NewMessage, now_ms

log = logging.getLogger("smsgate.api")

MAX_ITEMS = 999
ECHO_LIMIT = 64  # an absurd endpoint is echoed back cut to this many characters

# Which per-item error a badly typed field gets (the rest of the batch goes on).
_FIELD_ERRORS: dict[str, type[errors.SmsgateError]] = {
    "endpoint": errors.EndpointInvalid,
    "message": errors.MessageInvalid,
    "sign_id": errors.SignIdInvalid,
    "extend_src_id": errors.ExtendSrcIdInvalid,
    "extend_code": errors.ExtendCodeInvalid,
}

Parsed = SmsMessage | tuple[str, errors.SmsgateError]


async def accept_batch(
    state: AppState, context: ProjectContext, rid: str, body: bytes, keys: Sequence[AnswerKey] = (),
) -> list[CommitResult] | bytes:
    """A batch (the headline call's JSON body) through the whole path: :func:`parse_items`,
    :func:`screen_items`, then :func:`accept`; the per-item results, or the answer kept under
    one of ``keys`` when an earlier request used it."""
    parsed = parse_items(body)
    return await accept(state, context, rid, parsed, screen_items(parsed, context), keys)


def screen_items(parsed: list[Parsed], context: ProjectContext) -> list[object]:
    """Per item: a :class:`NewMessage` that passed every rule of the text, or its refusal."""
    screened = iter(screen([p for p in parsed if isinstance(p, SmsMessage)], context.rules, now_ms()))
    return [next(screened) if isinstance(p, SmsMessage) else p[1] for p in parsed]


async def accept(
    state: AppState, context: ProjectContext, rid: str, parsed: list[Parsed],
    outcomes: list[object], keys: Sequence[AnswerKey] = (),
) -> list[CommitResult] | bytes:
    """The store's part of the accept path (the project's rate, opt-outs, daily caps, the
    commit) and the per-item results; or, when one of ``keys`` (see :func:`answer_keys`) was
    used by an earlier request, that request's answer.  The public call and the console's test
    batch both come through here."""
    project_id = context.project.id
    candidates = [o for o in outcomes if isinstance(o, NewMessage)]
    if candidates:
        _within_rate(state, project_id, len(candidates))
        cap = context.project.daily_cap or state.settings.daily_cap
        day = datetime.now(state.settings.zone).date().isoformat()

        def merged(refusals: list[errors.SmsgateError | None]) -> list[object]:
            stored = iter(refusals)
            return [next(stored) or o if isinstance(o, NewMessage) else o for o in outcomes]

        rendered: list[list[CommitResult]] = []  # the results the kept answer was rendered from

        def render(refusals: list[errors.SmsgateError | None]) -> bytes:
            rendered.append([item_result(p, o, state) for p, o in zip(parsed, merged(refusals))])
            return msgspec.json.encode(PromotionResponse(request_id=rid, result=rendered[-1]))

        committed = await state.commit_batch(project_id, rid, day, cap, candidates,
                                             (keys, render) if keys else None)
        if committed.replay is not None:
            return committed.replay
        if rendered:  # rendered from the committed refusals: the same results
            return _counted(state, project_id, rendered[-1])
        outcomes = merged(committed.outcomes)
    return _counted(state, project_id, [item_result(p, o, state) for p, o in zip(parsed, outcomes)])


def _counted(state: AppState, project_id: str, results: list[CommitResult]) -> list[CommitResult]:
    """``results``, once counted in the metrics and the log."""
    refused = Counter(r.code for r in results if r.code is not None)
    accepted = len(results) - sum(refused.values())
    state.metrics.count_items(accepted, refused)
    log.info("batch_accepted", extra={"project_id": project_id, "items": len(results),
                                      "accepted": accepted, "refused": dict(refused)})
    return results


def _within_rate(state: AppState, project_id: str, n: int) -> None:
    """The project's cluster-wide sending rate (SMSGATE_PROJECT_RATE messages/s), if any."""
    rate = state.settings.project_rate
    if state.rate is None or rate <= 0:
        return
    if state.rate.acquire(f"project:{project_id}", n, rate) > 0:
        raise errors.RateLimited()


def parse_items(body: bytes) -> list[Parsed]:
    """The batch's items; an item of the wrong shape becomes its own refusal, not the batch's."""
    try:
        request = decode(body, PromotionRequest)
        items: list[SmsMessage] | list[msgspec.Raw] | None = request.sms_message
    except errors.BadRequest as exc:
        if not isinstance(exc.__cause__, msgspec.ValidationError):
            raise  # not JSON, not UTF-8: nothing to save
        lenient = decode(body, LenientRequest)  # raises for errors outside the items
        request, items = lenient, lenient.sms_message  # type: ignore[assignment]
    if items is None:
        raise errors.BadRequest("Parameter: sms_message is required.")
    if not 1 <= len(items) <= MAX_ITEMS:
        raise errors.TooManyEndpoints()
    return [i if isinstance(i, SmsMessage) else _parse_raw(i) for i in items]


class _Endpoint(msgspec.Struct):
    """Only an item's endpoint, as raw JSON: to echo it beside the item's refusal."""

    endpoint: msgspec.Raw = msgspec.Raw(b"null")


def _parse_raw(raw: msgspec.Raw) -> Parsed:
    try:
        return msgspec.json.decode(raw, type=SmsMessage)
    except msgspec.ValidationError as exc:
        field = str(exc).rsplit("at `$.", 1)[-1].rstrip("`").split(".")[0].split("[")[0]
        error = _FIELD_ERRORS.get(field, errors.BadRequest)
        return _echo_raw(raw), error(f"Parameter: sms_message item is invalid: {exc}.")


def _echo_raw(raw: msgspec.Raw) -> str:
    """The endpoint of an item that did not decode, as sent (a string as its text, anything
    else as compact JSON: ``1e400`` stays ``1e400``); "" when there is none to find.  Not
    decoded into Python values: msgspec refuses ``1e400`` even untyped."""
    try:
        endpoint = msgspec.json.decode(raw, type=_Endpoint).endpoint
        try:
            return _echo(msgspec.json.decode(endpoint, type=str | None))
        except msgspec.ValidationError:
            return _echo(msgspec.json.format(endpoint, indent=-1).decode())
    except (msgspec.DecodeError, RecursionError):  # not an object; nested beyond the decoder
        return ""


def _echo(endpoint: str | None) -> str:
    return "" if endpoint is None else endpoint[:ECHO_LIMIT]


def item_result(parsed: Parsed, outcome: object, state: AppState) -> CommitResult:
    """An item's line of the answer: its message id, or the code and message it is refused with."""
    endpoint = _echo(parsed.endpoint) if isinstance(parsed, SmsMessage) else parsed[0]
    if isinstance(outcome, NewMessage):
        return CommitResult(endpoint=endpoint, message_id=outcome.id)
    assert isinstance(outcome, errors.SmsgateError)
    if isinstance(outcome, errors.SensitiveWord):
        code = "SMN.227" if state.settings.short_sensitive_code else outcome.code
        return CommitResult(endpoint, code=code, message=outcome.message, sensitive_word=outcome.word)
    return CommitResult(endpoint, code=outcome.code, message=outcome.message)
