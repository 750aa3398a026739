"""SMS templates (SPEC §4): what a template may hold, and the text it becomes for a recipient.

A template is a fixed text, screened when it is created (here) and reviewed by an operator;
the template call then sends it, signed with the call's ``sign_id``, to up to 999 numbers.  Its
content carries no signature of its own: the signature is prepended per recipient, by
:func:`signed_text`.

Recipients on either side of the border read a different text: SPEC §5 writes a signature
``【name】`` for mainland numbers and ``[name] `` abroad when the name is GSM-7 (so that a GSM-7
text stays GSM-7), and English unsubscribe forms count abroad only.  Every final text of a
template is made by :func:`signed_text` for an :class:`Audience`, and the template call screens
each audience's text once per batch.
"""

from __future__ import annotations

import re
from enum import Enum

from smsgate.domain import errors, invisible, signatures, unsubscribe, zones
from smsgate.domain.accept import MAX_EXTEND_CODE_BYTES
from smsgate.domain.phone import Number
from smsgate.domain.records import Sign, Template, TemplateStatus, TemplateType
from smsgate.domain.sensitive import Lexicon

MAX_TEMPLATES_PER_PROJECT = 100
NAME_MAX = 30
REMARK_MAX_BYTES = 1500  # SMN's own limit (SMN.0082)
#: a message is at most 490 characters with its signature (SPEC §5), and a signature name at
#: most 8 (``【】`` and 8 = 10): a template's content fits whatever signature it is sent with
CONTENT_MAX = 490 - 10
_ID = re.compile(r"[0-9a-f]{32}")
_TYPES = {0: TemplateType.NOTIFICATION, 1: TemplateType.PROMOTIONAL}
_STATUSES = {int(s): s for s in TemplateStatus}


def template_type(value: object) -> TemplateType:
    """``0`` (notification) or ``1`` (promotional), as a JSON number (SMN.0155)."""
    if isinstance(value, bool) or not isinstance(value, int) or value not in _TYPES:
        raise errors.TemplateTypeInvalid()
    return _TYPES[value]


def template_name(value: object) -> str:
    """1 to 30 characters once trimmed, none of them a control character (SMN.0156)."""
    if not isinstance(value, str):
        raise errors.TemplateNameInvalid()
    name = value.strip()
    if not 1 <= len(name) <= NAME_MAX or not name.isprintable():
        raise errors.TemplateNameInvalid()
    return name


def remark(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value.encode("utf-8")) > REMARK_MAX_BYTES or "\x00" in value:
        raise errors.RemarkInvalid()
    return value


def template_id(value: object) -> str:
    """32 lower-case hex digits (SMN.0161)."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise errors.TemplateIdInvalid()
    return value


def status(value: str) -> TemplateStatus:
    """A status filter: ``0``, ``3`` or ``4``."""
    if not (value.isascii() and value.isdigit()) or int(value) not in _STATUSES:
        raise errors.BadRequest("Parameter: status is 0 (pending), 3 (approved) or 4 (rejected).")
    return _STATUSES[int(value)]


def content(value: object, kind: TemplateType, lexicon: Lexicon) -> str:
    """The content as it is kept (invisible format characters dropped, as the headline call
    drops them), once it passed the rules of a message's text, each refused with the headline
    call's code: no signature of its own nor a disguised one (SMN.0009), an unsubscribe
    instruction at the end of a promotional one (SMN.0204), no sensitive word (SMN.0227).
    Empty, too long or holding NUL: SMN.0157."""
    if not isinstance(value, str):
        raise errors.TemplateContentInvalid()
    text = invisible.strip_format(value)
    if not text.strip():
        raise errors.TemplateContentInvalid("Parameter: sms_template_content is empty.")
    if len(text) > CONTENT_MAX:
        raise errors.TemplateContentInvalid(
            f"Parameter: sms_template_content is {len(text)} characters long; at most"
            f" {CONTENT_MAX} are allowed (490 with the longest signature).")
    if "\x00" in text:
        raise errors.TemplateContentInvalid("Parameter: sms_template_content contains NUL (U+0000).")
    own = signatures.split_prefix(text)
    found = own[0] if own is not None else signatures.second_signature(text)
    if found is not None:
        raise errors.MessageInvalid(
            f"Parameter: the template carries a signature ({found}); the call's sign_id adds"
            " the one signature a message has.")
    # the rule as abroad reads it (English forms count there); the mainland text of a template
    # that only has an English form is refused per number when it is sent
    english = unsubscribe.accepts_english(text, mainland=False)
    if kind == TemplateType.PROMOTIONAL and not unsubscribe.has_unsubscribe(text, english):
        raise errors.UnsubscribeMissing()
    word = lexicon.find(text)
    if word is not None:
        raise errors.SensitiveWord(word, f"The template contains sensitive words ({word}).")
    return text


def extend_code(value: str | None) -> str | None:
    """The call's extend_code, for every message of the batch (as the headline call rules
    it: at most 32 bytes, SMN.0231)."""
    if not value:
        return None
    if len(value.encode("utf-8")) > MAX_EXTEND_CODE_BYTES or "\x00" in value:
        raise errors.ExtendCodeInvalid()
    return value


def sendable(template: Template) -> Template:
    """The template, if the promotion call may send it: approved (SMN.0163) and promotional
    (SMN.0155)."""
    if template.type != TemplateType.PROMOTIONAL:
        raise errors.TemplateTypeInvalid(
            "Parameter: the template is a notification template; the promotion call sends"
            " promotional templates (sms_template_type 1).")
    if template.status != TemplateStatus.APPROVED:
        raise errors.TemplateNotApproved()
    return template


# --- the text a recipient gets ---------------------------------------------------------------


class Audience(Enum):
    """Recipients whose messages are written alike (the signature's form, SPEC §5)."""

    MAINLAND = "mainland"  # 【name】text
    ABROAD = "abroad"  # [name] text when the name is GSM-7, else 【name】text


def audience(number: Number) -> Audience:
    return Audience.MAINLAND if zones.is_mainland(number.e164) else Audience.ABROAD


def signed_text(template: Template, sign: Sign, audience: Audience) -> str:
    """The text ``audience`` gets: the one place a template's final text is made."""
    return signatures.signed_text(sign.name, template.content, audience is Audience.MAINLAND)
