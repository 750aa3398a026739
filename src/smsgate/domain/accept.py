"""The per-item rules of a promotional batch (SPEC §1, §5), on plain values, without I/O.

:func:`screen` runs every rule that needs no shared state and returns, per item, either the
refusal or a :class:`NewMessage` candidate.  The rules that need the store (opt-outs, the daily
cap) run in the store's transaction, so that they see every committed message.

The order of the checks decides which code an item gets when several rules fail: first what the
item *is* (its fields, number and signature), then what it *says* (length, unsubscribe text,
sensitive words), then its relation to the rest of the batch (duplicates).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from smsgate.domain import errors, invisible, phone, segments, signatures, unsubscribe, zones
from smsgate.domain.sensitive import Lexicon
from smsgate.domain.records import (
    NewMessage,
    Sign,
    SignStatus,
    SignType,
    new_message_id,
    new_message_ids,
)

MAX_MESSAGE_CHARS = 490
MAX_EXTEND_CODE_BYTES = 32
_EXTEND_SRC_ID = re.compile(r"[0-9]{1,8}")
_SIGN_ID = re.compile(r"[0-9a-f]{32}")
_TRUE = (True, "true", "True", "TRUE")
_FALSE = (False, None, "false", "False", "FALSE")


class Item(Protocol):
    """One element of ``sms_message`` (``api.schemas.SmsMessage`` satisfies it)."""

    endpoint: str
    message: str
    sign_id: str | None
    message_include_sign_flag: bool | str | None
    extend_src_id: str | None
    extend_code: str | None


@dataclass(frozen=True, slots=True)
class ProjectRules:
    """What the rules need to know of a project: its signatures and its lexicon."""

    signs: Mapping[str, Sign]  # by id, every status
    signs_by_name: Mapping[str, Sign]  # by name, live (not deleted) ones
    lexicon: Lexicon


Outcome = errors.SmsgateError | NewMessage


def screen(items: Sequence[Item], rules: ProjectRules, at_ms: int) -> list[Outcome]:
    """Refusal or candidate for each item, in input order.

    In three passes over the batch: what each item *is* (:func:`_prepare`); the rules of each
    distinct text, once per text and side of the border (a batch often sends one text to many
    numbers), with one sensitive-word pass for all of them (:func:`_text_verdicts`); then the
    candidates, refused if they repeat an earlier one."""
    prepared: list[_Prepared | errors.SmsgateError] = []
    bodies: dict[tuple[str, bool], str] = {}  # (text, mainland): the body after the signature
    for item in items:
        try:
            ready = _prepare(item, rules)
        except errors.SmsgateError as refusal:
            # drop the traceback: it holds this frame, whose ``prepared`` holds the refusal, a
            # cycle that would keep the whole batch alive until the cyclic GC ran
            prepared.append(refusal.with_traceback(None))
            continue
        prepared.append(ready)
        bodies.setdefault((ready[2], ready[4]), ready[3])
    verdicts = _text_verdicts(bodies, rules.lexicon)
    ids = iter(new_message_ids(at_ms, len(items)))  # one random draw for the batch
    outcomes: list[Outcome] = []
    seen: set[tuple[str, str]] = set()
    for ready in prepared:
        if isinstance(ready, errors.SmsgateError):
            outcomes.append(ready)
            continue
        sign, number, text, _, mainland, extend_code, extend_src_id = ready
        verdict = verdicts[text, mainland]
        if isinstance(verdict, errors.SmsgateError):
            outcomes.append(verdict)
        elif (number.e164, text) in seen:
            outcomes.append(errors.EndpointDuplicate())
        else:
            seen.add((number.e164, text))
            outcomes.append(NewMessage(next(ids), sign.id, number.e164, number.nation_code, text,
                                       verdict, extend_code, extend_src_id))
    return outcomes


def check(item: Item, rules: ProjectRules, at_ms: int) -> NewMessage:
    """Every stateless rule for one item; raises the first refusal."""
    sign, number, text, body, mainland, extend_code, extend_src_id = _prepare(item, rules)
    verdict = _text_verdict(text, body, rules.lexicon, mainland)
    if isinstance(verdict, errors.SmsgateError):
        raise verdict
    return NewMessage(new_message_id(at_ms), sign.id, number.e164, number.nation_code, text,
                      verdict, extend_code, extend_src_id)


#: an item that passed the rules of its fields, number and signature: its signature, number,
#: text (as the recipient receives it), body (after the signature), whether the number is
#: mainland, extend_code and extend_src_id
_Prepared = tuple[Sign, phone.Number, str, str, bool, str | None, str | None]


def _prepare(item: Item, rules: ProjectRules) -> _Prepared:
    """The rules of what an item *is*; raises the first refusal."""
    extend_src_id = _extend_src_id(item.extend_src_id)
    extend_code = _extend_code(item.extend_code)
    number = phone.normalize(item.endpoint)
    mainland = zones.is_mainland(number.e164)
    # invisible format characters never reach a phone: out before every text rule and fee_num
    sign, body = _signed_body(item, invisible.strip_format(item.message), rules)
    text = signatures.signed_text(sign.name, body, mainland)  # as this recipient receives it
    return sign, number, text, body, mainland, extend_code, extend_src_id


def _text_verdicts(bodies: Mapping[tuple[str, bool], str], lexicon: Lexicon,
                   ) -> dict[tuple[str, bool], errors.SmsgateError | int]:
    """:func:`text_verdict` of each (text, mainland) with its body, the sensitive words of
    those that pass every other rule found in one pass (``Lexicon.find_many``)."""
    verdicts: dict[tuple[str, bool], errors.SmsgateError | int] = {}
    passed: list[tuple[str, bool]] = []
    for key, body in bodies.items():
        try:
            _check_form(key[0], body, key[1])
            passed.append(key)
        except errors.SmsgateError as refusal:
            verdicts[key] = refusal.with_traceback(None)
    for key, word in zip(passed, lexicon.find_many([text for text, _ in passed])):
        verdicts[key] = _fee_num(key[0]) if word is None else errors.SensitiveWord(word)
    return verdicts


def _extend_src_id(value: str | None) -> str | None:
    if not value:
        return None
    if not _EXTEND_SRC_ID.fullmatch(value):
        raise errors.ExtendSrcIdInvalid()
    return value


def _extend_code(value: str | None) -> str | None:
    if not value:
        return None
    if len(value.encode("utf-8")) > MAX_EXTEND_CODE_BYTES or "\x00" in value:
        raise errors.ExtendCodeInvalid()
    return value


def _signed_body(item: Item, message: str, rules: ProjectRules) -> tuple[Sign, str]:
    """The signature that applies and the text after it (``signatures.signed_text`` puts the
    signature in, as the recipient's side of the border writes it)."""
    flag = item.message_include_sign_flag
    if flag in _TRUE:
        return _sign_from_prefix(item, message, rules)
    if flag not in _FALSE:
        raise errors.BadRequest("Parameter: message_include_sign_flag must be true or false.")
    if not item.sign_id:
        raise errors.SignIdInvalid(
            "Parameter: sign_id is required when message_include_sign_flag is not true."
        )
    sign = _sign_by_id(item.sign_id, rules)
    if signatures.split_prefix(message) is not None:
        raise errors.MessageInvalid(
            "Parameter: the message begins with its own 【signature】; send it with"
            " message_include_sign_flag=true instead of sign_id (one signature per message)."
        )
    _check_sign(sign)
    return sign, message


def _sign_from_prefix(item: Item, message: str, rules: ProjectRules) -> tuple[Sign, str]:
    prefix = signatures.split_prefix(message)
    if prefix is None:
        raise errors.MessageInvalid(
            "Parameter: message_include_sign_flag is true but the message does not begin"
            " with 【signature】."
        )
    sign = rules.signs_by_name.get(prefix[0])
    if sign is None:
        raise errors.SignNotFound(f"The signature 【{prefix[0]}】 does not exist.")
    if item.sign_id and item.sign_id != sign.id:
        raise errors.SignIdInvalid(
            "Parameter: sign_id does not match the 【signature】 the message begins with."
        )
    _check_sign(sign)
    return sign, prefix[1]


def promotional_sign(sign_id: str | None, rules: ProjectRules) -> Sign:
    """The approved promotional signature ``sign_id`` names, or the refusal the headline call
    gives it (the template call uses it too)."""
    if not sign_id:
        raise errors.SignIdInvalid("Parameter: sign_id is required.")
    sign = _sign_by_id(sign_id, rules)
    _check_sign(sign)
    return sign


def text_verdict(text: str, body: str, lexicon: Lexicon, mainland: bool) -> errors.SmsgateError | int:
    """Every rule of a text as a recipient receives it (``body``: after its signature), as the
    headline call runs them: its refusal, or its number of parts."""
    return _text_verdict(text, body, lexicon, mainland)


def _sign_by_id(sign_id: str, rules: ProjectRules) -> Sign:
    if not _SIGN_ID.fullmatch(sign_id):
        raise errors.SignIdInvalid()
    sign = rules.signs.get(sign_id)
    if sign is None:
        raise errors.SignNotFound()
    return sign


def _check_sign(sign: Sign) -> None:
    if sign.status == SignStatus.DELETED:
        raise errors.SignDeleted()
    if sign.type != SignType.PROMOTIONAL:
        raise errors.SignTypeMismatch()
    if sign.status != SignStatus.APPROVED:
        raise errors.SignNotApproved()


def _text_verdict(text: str, body: str, lexicon: Lexicon, mainland: bool) -> errors.SmsgateError | int:
    """The text's refusal, or its number of parts when every text rule passes."""
    try:
        _check_form(text, body, mainland)
    except errors.SmsgateError as refusal:
        return refusal.with_traceback(None)
    word = lexicon.find(text)
    return _fee_num(text) if word is None else errors.SensitiveWord(word)


def _fee_num(text: str) -> errors.SmsgateError | int:
    try:
        return segments.fee_num(text)
    except errors.SmsgateError as refusal:  # a lone surrogate: no encoding carries it
        return refusal.with_traceback(None)


def _check_form(text: str, body: str, mainland: bool) -> None:
    """Every rule of a text but its sensitive words; raises the first refusal."""
    if not body.strip():
        raise errors.MessageInvalid("Parameter: message is empty.")
    second = signatures.second_signature(body)
    if second is not None:
        raise errors.MessageInvalid(
            f"Parameter: the message carries a second or disguised signature ({second}); one"
            " signature per message: 【】 and 〖〗 frame only the signature, and no bracket"
            " frames a Chinese name after it."
        )
    if len(text) > MAX_MESSAGE_CHARS:
        raise errors.MessageInvalid(
            f"Parameter: message is {len(text)} characters long, signature included;"
            f" at most {MAX_MESSAGE_CHARS} are allowed."
        )
    if "\x00" in text:  # no SMS carries it, and PostgreSQL cannot store it
        raise errors.MessageInvalid("Parameter: message contains a NUL character (U+0000).")
    if not unsubscribe.has_unsubscribe(text, unsubscribe.accepts_english(body, mainland)):
        raise errors.UnsubscribeMissing()
