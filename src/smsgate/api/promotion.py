"""``POST /v2/{project_id}/notifications/sms/promotion``: PromotionSmsBatchPublishWithDiffMessage,
and the template call on the same path (``api.template_batch``), told apart by the body.

The route around the accept path (``api.accept``): the caller's project and grant, the dry run,
and the keys a batch's answer is kept under (so that a retried or replayed batch is answered
again instead of sent twice).  The 200 is the promise: it is sent only after every accepted
message is committed.
"""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import Response

from smsgate.api import dry_run, template_batch
from smsgate.api.accept import accept_batch, item_result, parse_items, screen_items
from smsgate.api.auth import Signed, authenticated_body, signed
from smsgate.api.responses import JsonResponse, request_id
from smsgate.api.schemas import PromotionResponse
from smsgate.api.state import AnswerKey
from smsgate.domain import errors
from smsgate.domain.records import now_ms


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
    template = template_batch.template_form(body)  # the template call shares the path
    if dry and template is not None:
        return template_batch.respond_dry_run(state, request, context, template)
    if dry:  # every rule, nothing stored
        parsed = parse_items(body)
        outcomes = screen_items(parsed, context)
        results = [item_result(p, o, state) for p, o in zip(parsed, outcomes)]
        return dry_run.respond(state, request, context, parsed, outcomes, results)
    if template is not None:
        accepted = await template_batch.send(state, context, request_id(request), template, keys)
    else:
        accepted = await accept_batch(state, context, request_id(request), body, keys)
    if isinstance(accepted, bytes):
        return _replay(accepted)
    return JsonResponse(PromotionResponse(request_id=request_id(request), result=accepted))


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
