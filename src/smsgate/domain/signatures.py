"""Signature names, the ``【name】`` prefix that carries them in a message, and the rule that
it is the only one.

One signature per message (SPEC §5): after the signature, a text may not carry another one,
plain or disguised.  Carriers and readers take ``【…】`` for a signature wherever it stands,
and senders who want to slip a second brand past the rule reach for lookalikes.  The rule
(:func:`second_signature`), as the README's table states it:

1. ``【`` ``】`` and the characters that look like them — their vertical forms ``︻`` ``︼`` and
   the white lenticular brackets ``〖`` ``〗`` (and ``︗`` ``︘``) — appear nowhere else in the
   text, paired or not: they have no use in a promotional text but to frame a signature.
2. No other square or tortoise-shell bracket (``[ ]`` ``［ ］`` ``〔 〕`` ``﹝ ﹞`` ``〘 〙``
   ``〚 〛`` ``⟦ ⟧`` ``❲ ❳`` ``⁅ ⁆`` and vertical forms) encloses a *name*: once spaces,
   punctuation, symbols and invisible characters are dropped and widths and cases folded (as
   the sensitive-word screen folds them, so ``[京 东]`` and ``［Ｊ.Ｄ京东］`` count), 2 to 8 letters
   or digits, at least one of them a Chinese character — the shape of an SMN signature name.
   Latin-only content passes (``[SALE]``, ``[SKU-1234]``, ``[50%]``): product codes and tags
   are everyday typography in English, and a Latin word cannot be told from a Latin brand;
   single characters (``[赞]``) and longer phrases are not names either.  Parentheses, quotes
   and title marks (``（）`` ``「」`` ``《》``) are never read as a signature and stay free.

Invisible format characters are removed before the rule runs (``domain.invisible``), so none
can hide a bracket or split a name.

How the signature is written depends on the recipient (:func:`signed_text`): ``【name】`` forces
UCS-2 (70 characters a part) even on an English text, so outside mainland China a name in the
GSM 03.38 alphabet is written ``[name] `` and the text may go as GSM-7 (160 a part).
"""

from __future__ import annotations

import re

from smsgate.domain.errors import SignNameInvalid
from smsgate.domain.segments import is_gsm7
from smsgate.domain.sensitive import normalize

# 2–8 characters: CJK ideographs, ASCII letters or digits (SPEC §2, SMN.0081).
_NAME = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]{2,8}")
# The prefix a message carries when message_include_sign_flag is true.
_PREFIX = re.compile(r"【([^【】]{1,16})】")


def validate_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise SignNameInvalid()
    return name


def split_prefix(message: str) -> tuple[str, str] | None:
    """``("name", "rest")`` when the message begins with ``【name】``, else None."""
    match = _PREFIX.match(message)
    if match is None:
        return None
    return match.group(1), message[match.end() :]


def with_prefix(name: str, body: str) -> str:
    return f"【{name}】{body}"


def signed_text(name: str, body: str, mainland: bool) -> str:
    """The text a recipient receives: ``【name】body`` for a mainland number (carriers there
    require it), and for one abroad ``[name] body`` when the name is GSM-7 (so an English text
    stays GSM-7; a name that is not, ``【阿克米】``, keeps ``【】`` and the text UCS-2)."""
    if mainland or not is_gsm7(name):
        return with_prefix(name, body)
    return f"[{name}] {body}"


#: rule 1: the signature's own brackets and their lookalikes
SIGNATURE_BRACKETS = "【】︻︼〖〗︗︘"
#: rule 2: brackets that frame a name like a signature (openers, closers)
_OPENERS = "[［〔﹝︹〘〚⟦❲⁅﹇"
_CLOSERS = "]］〕﹞︺〙〛⟧❳⁆﹈"
_ANY = re.escape(SIGNATURE_BRACKETS + _OPENERS + _CLOSERS)
_ANY_BRACKET = re.compile(f"[{_ANY}]")  # most texts have none: one quick scan says so
# one pass: a reserved bracket, or an opener, up to 32 characters that are no bracket, a closer
_SCAN = re.compile(f"(?P<reserved>[{re.escape(SIGNATURE_BRACKETS)}])"
                   f"|[{re.escape(_OPENERS)}](?P<inner>[^{_ANY}]{{1,32}})[{re.escape(_CLOSERS)}]")
_FRAMED = re.compile(f"[{re.escape(SIGNATURE_BRACKETS[::2])}][^{re.escape(SIGNATURE_BRACKETS)}]{{0,32}}"
                     f"[{re.escape(SIGNATURE_BRACKETS[1::2])}]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]")


def second_signature(body: str) -> str | None:
    """What in ``body`` (a text after its signature) reads as another signature, else None."""
    if _ANY_BRACKET.search(body) is None:
        return None
    for match in _SCAN.finditer(body):
        if match["reserved"] is not None:  # shown with what it frames, when it frames something
            framed = _FRAMED.match(body, match.start())
            return framed.group() if framed is not None else match.group()
        name = normalize(match["inner"])
        if 2 <= len(name) <= 8 and _HAN.search(name):
            return match.group()
    return None
