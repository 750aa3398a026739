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
from collections.abc import Iterator, Mapping, Sequence
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
    """Refusal or candidate for each item, in input order."""
    outcomes: list[Outcome] = []
    seen: set[tuple[str, str]] = set()
    verdicts: dict[tuple[str, bool], errors.SmsgateError | int] = {}
    ids = iter(new_message_ids(at_ms, len(items)))  # one random draw for the batch
    for item in items:
        try:
            candidate = check(item, rules, at_ms, verdicts, ids)
            key = (candidate.e164, candidate.text)
            if key in seen:
                raise errors.EndpointDuplicate()
            seen.add(key)
            outcomes.append(candidate)
        except errors.SmsgateError as refusal:
            # drop the traceback: it holds this frame, whose ``outcomes`` holds the refusal, a
            # cycle that would keep the whole batch alive until the cyclic GC ran
            outcomes.append(refusal.with_traceback(None))
    return outcomes


def check(
    item: Item, rules: ProjectRules, at_ms: int,
    verdicts: dict[tuple[str, bool], errors.SmsgateError | int] | None = None,
    ids: Iterator[str] | None = None,
) -> NewMessage:
    """Every stateless rule for one item; raises the first refusal.

    ``verdicts`` remembers, per text and side of the border (mainland or abroad), the refusal or
    the number of parts: a batch often sends one text to many numbers, and the text's rules are
    the costly ones.  ``ids``: the message ids drawn for the batch (else one is drawn for this
    item)."""
    extend_src_id = _extend_src_id(item.extend_src_id)
    extend_code = _extend_code(item.extend_code)
    number = phone.normalize(item.endpoint)
    mainland = zones.is_mainland(number.e164)
    # invisible format characters never reach a phone: out before every text rule and fee_num
    sign, body = _signed_body(item, invisible.strip_format(item.message), rules)
    text = signatures.signed_text(sign.name, body, mainland)  # as this recipient receives it
    key = (text, mainland)
    verdict = verdicts.get(key) if verdicts is not None else None
    if verdict is None:
        verdict = _text_verdict(text, body, rules.lexicon, mainland)
        if verdicts is not None:
            verdicts[key] = verdict
    if isinstance(verdict, errors.SmsgateError):
        raise verdict
    return NewMessage(
        id=next(ids) if ids is not None else new_message_id(at_ms),
        sign_id=sign.id,
        e164=number.e164,
        nation_code=number.nation_code,
        text=text,
        fee_num=verdict,
        extend_code=extend_code,
        extend_src_id=extend_src_id,
    )


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
        _check_text(text, body, lexicon, mainland)
        return segments.fee_num(text)
    except errors.SmsgateError as refusal:
        return refusal.with_traceback(None)


def _check_text(text: str, body: str, lexicon: Lexicon, mainland: bool) -> None:
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
    word = lexicon.find(text)
    if word is not None:
        raise errors.SensitiveWord(word)
