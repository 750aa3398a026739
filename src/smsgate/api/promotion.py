"""``POST /v2/{project_id}/notifications/sms/promotion``: PromotionSmsBatchPublishWithDiffMessage.

The 200 is the promise: it is sent only after every accepted message is committed.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from smsgate.api import dry_run
from smsgate.api.auth import Signed, authenticated_body, signed
from smsgate.api.body import decode
from smsgate.api.responses import JsonResponse, request_id
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


async def send_promotion(request: Request) -> Response:
    state, project_id, body = await authenticated_body(request)
    context = state.project(project_id)
    if context is None:
        raise errors.ProjectNotFound()
    if not context.project.may_promote:
        raise errors.NoApiPermission()
    dry = dry_run.requested(request)
    keys = [] if dry else answer_keys(request, body)
    for key, fingerprint, _ in keys:
        replay = state.reader.remembered_response(project_id, key, fingerprint, now_ms())
        if replay is not None:
            return _replay(replay)
    parsed = parse_items(body)
    outcomes = screen_items(parsed, context)
    if dry:  # every rule, nothing stored
        results = [_result(p, o, state) for p, o in zip(parsed, outcomes)]
        return dry_run.respond(state, request, context, parsed, outcomes, results)
    accepted = await accept(state, context, request_id(request), parsed, outcomes, keys)
    if isinstance(accepted, bytes):
        return _replay(accepted)
    return JsonResponse(PromotionResponse(request_id=request_id(request), result=accepted))


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

        def render(refusals: list[errors.SmsgateError | None]) -> bytes:
            results = [_result(p, o, state) for p, o in zip(parsed, merged(refusals))]
            return msgspec.json.encode(PromotionResponse(request_id=rid, result=results))

        committed = await state.commit_batch(project_id, rid, day, cap, candidates,
                                             (keys, render) if keys else None)
        if committed.replay is not None:
            return committed.replay
        outcomes = merged(committed.outcomes)
    results = [_result(p, o, state) for p, o in zip(parsed, outcomes)]
    refused = Counter(r.code for r in results if r.code is not None)
    accepted = len(results) - sum(refused.values())
    state.metrics.count_items(accepted, refused)
    log.info("batch_accepted", extra={"project_id": project_id, "items": len(results),
                                      "accepted": accepted, "refused": dict(refused)})
    return results


IDEMPOTENCY_HEADER = "X-Idempotency-Key"


def idempotency_key(request: Request, body: bytes) -> tuple[str, str] | None:
    """The client's key for this batch, and the fingerprint of the body it names: a retry with
    the same key and body (within a day) gets the first answer again and sends nothing twice;
    the same key with another body is refused.  An extension of SMN's API, used by
    ``smsgate send``."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= 128 or not key.isascii() or not key.isprintable():
        raise errors.BadRequest(f"Header: {IDEMPOTENCY_HEADER} must be 1 to 128 printable ASCII characters.")
    return key, hashlib.sha256(body).hexdigest()


#: the idempotency keys derived from signatures start with a character no client key may hold
#: (those are printable ASCII), so the two never meet
SIGNATURE_KEY_PREFIX = "§sig:"
#: a replayed signature gets the first answer whatever its body (the body is signed, unless the
#: client sent X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD): one fingerprint for every body
_SIGNED_BODY = "signed"


def answer_keys(request: Request, body: bytes) -> list[AnswerKey]:
    """The keys (with the body's fingerprint) the batch's answer is kept under, in its own
    transaction, and looked up by before anything is sent: the client's X-Idempotency-Key
    (for a day), and for a signed call its signature (until the signature's date leaves the
    window), so that a replayed signed request (sent again within the window, by anyone who
    saw it) is answered with the first answer, the same ``message_id``s, and sends nothing
    twice, even when the two race on two API processes.

    When the client's key is itself signed, a replay carries it unchanged and it is enough;
    otherwise the signature's key comes first (a replay may drop or change an unsigned
    X-Idempotency-Key)."""
    client = idempotency_key(request, body)
    keys: list[AnswerKey] = [] if client is None else [(*client, None)]
    verified = signed(request)
    if verified is None or (client is not None and IDEMPOTENCY_HEADER.lower() in verified.signed_headers):
        return keys
    return [signature_key(verified), *keys]


def signature_key(verified: Signed) -> AnswerKey:
    return f"{SIGNATURE_KEY_PREFIX}{verified.signature}", _SIGNED_BODY, verified.expires_at


def _replay(body: bytes) -> Response:
    return Response(body, media_type="application/json;charset=UTF-8",
                    headers={"X-Idempotent-Replay": "true"})


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
    if request.sms_template_id is not None:
        raise errors.TemplateNotFound(
            "The template does not exist: this server has no SMS templates; send"
            " sms_message items instead."
        )
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


def _result(parsed: Parsed, outcome: object, state: AppState) -> CommitResult:
    endpoint = _echo(parsed.endpoint) if isinstance(parsed, SmsMessage) else parsed[0]
    if isinstance(outcome, NewMessage):
        return CommitResult(endpoint=endpoint, message_id=outcome.id)
    assert isinstance(outcome, errors.SmsgateError)
    if isinstance(outcome, errors.SensitiveWord):
        code = "SMN.227" if state.settings.short_sensitive_code else outcome.code
        return CommitResult(endpoint, code=code, message=outcome.message, sensitive_word=outcome.word)
    return CommitResult(endpoint, code=outcome.code, message=outcome.message)
