"""The template-based promotion call (SPEC §4): ``POST …/sms/promotion`` with
``{"sms_template_id", "sign_id", "endpoints": [...]}``.

It shares the headline call's path and everything after the screening (``api.promotion`` keeps
the dry run, the idempotency keys and signed replays; ``api.accept.accept`` the rate, opt-outs,
daily caps, the commit and the per-recipient ``result`` list).  What differs is the screening:
the template and the signature are checked once for the batch (a bad one refuses the whole
request), and the text each audience gets (``domain.templates.signed_text``) is screened once
per batch, so that the numbers are all that is checked one by one: their format and duplicates
here, opt-outs and caps in the store, the window by the dispatcher.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from smsgate.api import dry_run
from smsgate.api.accept import ECHO_LIMIT, MAX_ITEMS, accept, item_result
from smsgate.api.body import decode
from smsgate.api.schemas import CommitResult, TemplateForm
from smsgate.api.state import AnswerKey, AppState, ProjectContext
from smsgate.domain import errors, phone
from smsgate.domain import templates as rules
from smsgate.domain.accept import promotional_sign, text_verdict
from smsgate.domain.records import NewMessage, Sign, Template, new_message_id, now_ms
from smsgate.store import templates as stored

#: per recipient, as ``api.accept`` answers it: the endpoint echoed, and nothing refused yet
Parsed = tuple[str, None]


class _Form(msgspec.Struct):
    """Only what tells the two bodies apart (the rest is skipped, not built)."""

    sms_template_id: msgspec.Raw = msgspec.Raw()


_which_form = msgspec.json.Decoder(_Form)


def template_form(body: bytes) -> TemplateForm | None:
    """The template call's body, or None when the body is the headline call's (or is not
    JSON at all: the headline path says what is wrong with it)."""
    try:
        found = bytes(_which_form.decode(body).sms_template_id)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, UnicodeDecodeError):
        return None
    if found in (b"", b"null"):
        return None
    form = decode(body, TemplateForm)
    if form.sms_message is not None:
        raise errors.BadRequest(
            "Parameter: send either sms_message, or sms_template_id with endpoints; not both.")
    return form


async def send(state: AppState, context: ProjectContext, rid: str, form: TemplateForm,
               keys: Sequence[AnswerKey] = ()) -> list[CommitResult] | bytes:
    """The batch screened and through the accept path's store part; its results, or the
    answer kept under one of ``keys`` by an earlier request."""
    parsed, outcomes = screen(state, context, form)
    return await accept(state, context, rid, list(parsed), outcomes, keys)


def respond_dry_run(state: AppState, request: Request, context: ProjectContext,
                    form: TemplateForm) -> Response:
    parsed, outcomes = screen(state, context, form)
    results = [item_result(p, o, state) for p, o in zip(parsed, outcomes)]
    return dry_run.respond(state, request, context, parsed, outcomes, results)


def screen(state: AppState, context: ProjectContext,
           form: TemplateForm) -> tuple[list[Parsed], list[object]]:
    """Per number: its echo, and a :class:`NewMessage` or its refusal.  The batch's own
    faults (template, signature, extend_code, how many numbers) refuse the request."""
    template_id = rules.template_id(form.sms_template_id)
    endpoints = form.endpoints
    if endpoints is None:
        raise errors.BadRequest("Parameter: endpoints is required with sms_template_id.")
    if not 1 <= len(endpoints) <= MAX_ITEMS:
        raise errors.TooManyEndpoints()
    template = rules.sendable(stored.get(state.reader.db, context.project.id, template_id))
    if not isinstance(form.sign_id, str):
        raise errors.SignIdInvalid("Parameter: sign_id is required.")
    sign = promotional_sign(form.sign_id, context.rules)
    extend_code = rules.extend_code(form.extend_code)
    return _numbers(endpoints, template, sign, extend_code, context)


def _numbers(endpoints: list[msgspec.Raw], template: Template, sign: Sign,
             extend_code: str | None, context: ProjectContext) -> tuple[list[Parsed], list[object]]:
    """The per-number part: the only loop over the batch."""
    texts: dict[rules.Audience, tuple[str, errors.SmsgateError | int]] = {}
    seen: set[str] = set()
    parsed: list[Parsed] = []
    outcomes: list[object] = []
    at = now_ms()
    for raw in endpoints:
        echo, endpoint = _endpoint(raw)
        parsed.append((echo, None))
        try:
            number = phone.normalize(endpoint)  # a non-string is refused here too
            audience = rules.audience(number)
            text, verdict = texts.get(audience) or texts.setdefault(
                audience, _text(template, sign, audience, context))
            if isinstance(verdict, errors.SmsgateError):
                raise verdict
            if number.e164 in seen:
                raise errors.EndpointDuplicate()
            seen.add(number.e164)
            outcomes.append(NewMessage(new_message_id(at), sign.id, number.e164, number.nation_code,
                                       text, verdict, extend_code, None))
        except errors.SmsgateError as refusal:
            outcomes.append(refusal.with_traceback(None))
    return parsed, outcomes


def _text(template: Template, sign: Sign, audience: rules.Audience,
          context: ProjectContext) -> tuple[str, errors.SmsgateError | int]:
    """An audience's text and its verdict, once a batch: the content passed review, but the
    project's lexicon may have grown since, and the signature is part of the text."""
    text = rules.signed_text(template, sign, audience)
    mainland = audience is rules.Audience.MAINLAND
    return text, text_verdict(text, template.content, context.rules.lexicon, mainland)


def _endpoint(raw: msgspec.Raw) -> tuple[str, object]:
    """The endpoint's echo (cut to ``ECHO_LIMIT``) and its value (a str, or None)."""
    try:
        value = msgspec.json.decode(raw, type=str)
        return value[:ECHO_LIMIT], value
    except msgspec.ValidationError:
        shown = msgspec.json.format(raw, indent=-1).decode()
        return ("" if shown == "null" else shown[:ECHO_LIMIT]), None
