"""Does a promotional text end with an unsubscribe instruction?

Chinese carriers require promotional SMS to end with how to opt out; a text that does not is
refused (SMN.0204).  This runs for every message, so it must not scan the whole text: a regex
``search`` anchored with ``\\Z`` still tries every start position (~12 µs for 300 chars).  Instead
the one regex is written *reversed* and ``match``-ed against the reversed text, so it only reads
the trailing punctuation and the instruction (well under 1 µs).  Hand-written: no library knows
these carrier phrasings.
"""

from __future__ import annotations

import re

from smsgate.domain.replies import REPLY_CODES

__all__ = ["has_unsubscribe"]


def _letters(word: str) -> str:
    """Regex for ``word`` in ASCII or full-width letters (ＴＤ), any case (with re.I)."""
    return "".join(f"[{c}{chr(ord(c) + 0xFEE0)}]" for c in word)


# Everything below is reversed: read each piece right to left to see the forward text.
# Reply codes R, T, TD, N, STOP.
_CODE = "(?:" + "|".join(_letters(w[::-1]) for w in REPLY_CODES) + ")"
_S = r"\s*"  # spaces (incl. the ideographic space U+3000) are allowed between the words
_REPLY = f"复?回{_S}请?"  # 回 / 回复 / 请回 / 请回复
# Punctuation and spaces that may follow the instruction: ASCII punctuation, general
# punctuation (…—“”), CJK punctuation (。、【】「」 ideographic space) and full-width forms (！，？).
_TRAILING = (
    r"[\s!-/:-@\[-`{-~\u2010-\u2027\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40"
    r"\uff5b-\uff65]*+"  # possessive: no instruction ends with one of these, never backtrack
)

_REVERSED_UNSUBSCRIBE = re.compile(
    f"{_TRAILING}(?:"
    # 拒收请回复R, 拒收回R, 退订回T, 退订回复TD, 退订请回复T
    f"{_CODE}{_S}{_REPLY}{_S}(?:收拒|订退)"
    # 回T退订, 回TD退订, 回N退订, 回复T退订, 回复STOP退订, 回R拒收
    f"|(?:订退|收拒){_S}{_CODE}{_S}{_REPLY}"
    # Reply STOP to opt out / opt-out / unsubscribe
    rf"|(?:tuo[\s-]*tpo|ebircsbusnu)\s+ot\s+{_letters('POTS')}\s+ylper"
    ")",
    re.IGNORECASE,
).match


def has_unsubscribe(text: str) -> bool:
    """True when ``text`` ends with an unsubscribe instruction.

    Accepted forms (any letter case, ASCII or full-width letters, optional spaces between the
    words, then only punctuation or whitespace up to the end):

    * ``拒收|退订`` + ``回|回复|请回|请回复`` + code: 拒收请回复R, 拒收回R, 退订回T, 退订回复TD;
    * ``回|回复|请回|请回复`` + code + ``退订|拒收``: 回T退订, 回TD退订, 回复STOP退订, 回N退订;
    * ``Reply STOP to opt out`` (or ``opt-out``, ``unsubscribe``);

    where code is one of R, T, TD, N, STOP.  An instruction followed by more text does not count.
    """
    return _REVERSED_UNSUBSCRIBE(text[::-1]) is not None
