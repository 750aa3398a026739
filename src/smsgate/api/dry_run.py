"""``POST …/sms/promotion?dry_run=true``: every rule of the real call, nothing stored.

The batch goes through the same screening as the real call (``promotion.send_promotion`` hands
over its parsed items, their outcomes and the results it would answer), then through the
store's checks without a transaction that writes (``preview_batch``: opt-outs and daily caps,
counted as the real call would count them, earlier items of the batch included).  The answer
adds what a sender wants to know before sending: where a sensitive word sits in the text, how
many parts an accepted message costs and in which encoding, and whether it would go out now or
wait for the sending window to open in the recipient's time zones (``domain.zones``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from starlette.requests import Request

from smsgate.api.resources import iso_utc
from smsgate.api.responses import JsonResponse, request_id
from smsgate.api.schemas import CommitResult, DryRunResponse, DryRunResult, SmsMessage
from smsgate.api.state import AppState, ProjectContext
from smsgate.domain import errors, segments, zones
from smsgate.domain.records import NewMessage
from smsgate.domain.sensitive import Lexicon
from smsgate.domain.window import SendWindow

log = logging.getLogger("smsgate.api")

PARAMETER = "dry_run"
_VALUES = {"true": True, "false": False}


def requested(request: Request) -> bool:
    """Whether the call asks for a dry run; anything but ``true``/``false`` is refused, so
    that a misspelt flag (``dry_run=1``, ``dry_run=yes``) never sends for real."""
    values = request.query_params.getlist(PARAMETER)
    if not values:
        return False
    if len(values) > 1 or values[0] not in _VALUES:
        raise errors.BadRequest(f"Parameter: {PARAMETER} must be true or false.")
    return _VALUES[values[0]]


def respond(
    state: AppState,
    request: Request,
    context: ProjectContext,
    items: Sequence[SmsMessage | tuple[str, errors.SmsgateError]],
    outcomes: Sequence[object],
    results: Sequence[CommitResult],
) -> JsonResponse:
    """The dry run's answer for a screened batch: ``outcomes`` are the stateless rules'
    verdicts (a refusal or a candidate), ``results`` what the real call would answer for them."""
    project = context.project
    candidates = [o for o in outcomes if isinstance(o, NewMessage)]
    cap = project.effective_cap(state.settings.daily_cap)
    now = datetime.now(state.settings.zone)
    refusals = iter(
        state.reader.preview_batch(project.id, now.date().isoformat(), cap, candidates, state.caps)
    )
    window = SendWindow.parse(project.effective_window(state.settings.send_window))
    answer: list[DryRunResult] = []
    for item, outcome, result in zip(items, outcomes, results):
        refusal = next(refusals) if isinstance(outcome, NewMessage) else outcome
        if refusal is None:
            assert isinstance(outcome, NewMessage)
            opens = window.opens(now, zones.zones_for(outcome.e164, state.settings.zone))
            held_until = iso_utc(int(opens.timestamp() * 1000)) if opens > now else None
            answer.append(DryRunResult(
                result.endpoint, None, fee_num=outcome.fee_num,
                encoding="gsm7" if segments.is_gsm7(outcome.text) else "ucs2",
                send="held" if held_until else "now", held_until=held_until,
            ))
        elif isinstance(refusal, errors.SensitiveWord):
            position = _position(item, refusal.word, context.rules.lexicon)
            answer.append(DryRunResult(
                result.endpoint, None, code=result.code, message=result.message,
                sensitive_word=result.sensitive_word, sensitive_word_position=position,
            ))
        else:
            assert isinstance(refusal, errors.SmsgateError)
            answer.append(DryRunResult(
                result.endpoint, None, code=refusal.code, message=refusal.message,
            ))
    accepted = sum(1 for r in answer if r.code is None)
    held = sum(1 for r in answer if r.send == "held")
    log.info("dry_run", extra={"project_id": project.id, "items": len(answer),
                               "accepted": accepted, "held": held})
    return JsonResponse(DryRunResponse(request_id=request_id(request), dry_run=True, result=answer))


def _position(item: object, word: str, lexicon: Lexicon) -> int | None:
    """Where ``word`` begins in the item's ``message`` as sent (the first character of the
    sender's spelling); None when it lies in the 【signature】 the server adds."""
    if not isinstance(item, SmsMessage):
        return None
    for position, found in lexicon.find_all(item.message):
        if found == word:
            return position
    return None
