"""Does a promotional text end with an unsubscribe instruction?

Chinese carriers require promotional SMS to end with how to opt out; a text that does not is
refused (SMN.0204).  This runs for every message, so it must not scan the whole text: a regex
``search`` anchored with ``\\Z`` still tries every start position (~12 µs for 300 chars).  Instead
the one regex is written *reversed* and ``match``-ed against the reversed text, so it only reads
the trailing punctuation and the instruction (well under 1 µs).  Hand-written: no library knows
these carrier phrasings.

Texts to numbers outside mainland China that are not Chinese (no Han character in the body)
may also end with the usual English forms (``STOP to end``, ``To opt out, reply STOP``, …:
:data:`_ENGLISH`); :func:`accepts_english` says when.  Those are read forwards, in a bounded
stretch before the trailing punctuation, which the reversed regex finds.
"""

from __future__ import annotations

import re

__all__ = ["accepts_english", "has_unsubscribe"]


def _letters(word: str) -> str:
    """Regex for ``word`` in ASCII or full-width letters (ＴＤ), any case (with re.I)."""
    return "".join(f"[{c}{chr(ord(c) + 0xFEE0)}]" for c in word)


# Everything below is reversed: read each piece right to left to see the forward text.
# Reply codes R, T, TD, N, STOP.
_CODE = "(?:" + "|".join(_letters(w[::-1]) for w in ("STOP", "TD", "R", "T", "N")) + ")"
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


# --- the English forms, abroad ------------------------------------------------------------------
_VERB = r"(?:reply|text|txt|send|respond)(?:\s+with)?"
_WORD = r"[\"'“‘]?(?:stop|stopall|unsubscribe|cancel|end|quit)[\"'”’]?"  # the reply word
_TO_NUMBER = r"(?:\s+to\s+\+?[0-9]{3,15})?"  # Text STOP to 12345 to opt out
_MESSAGES = r"(?:\s+(?:receiving\s+)?(?:(?:these|our|future)\s+)?(?:messages|msgs|texts|sms|alerts))"
_ACTION = rf"(?:opt[\s-]*out|unsubscribe|end|cancel|quit|stop{_MESSAGES}?)"
_ENGLISH = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    # Reply STOP to opt out, STOP to end, Text STOP to 12345 to cancel, Reply STOP to stop messages
    rf"(?:{_VERB}\s+)?{_WORD}{_TO_NUMBER}\s+to\s+{_ACTION}"
    # To opt out, reply STOP; Unsubscribe: text STOP to 12345; To stop messages reply STOP
    rf"|(?:to\s+)?(?:opt[\s-]*out|unsubscribe|stop{_MESSAGES}){_MESSAGES}?\s*[,:;-]?\s*{_VERB}\s+{_WORD}{_TO_NUMBER}"
    # Reply STOP=opt out, STOP=end
    rf"|(?:{_VERB}\s+)?{_WORD}\s*=\s*{_ACTION}"
    r")\Z",
    re.IGNORECASE,
).search
_ENGLISH_MAX = 100  # characters: the longest form above with room to spare
_trailing = re.compile(_TRAILING).match
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]").search


def accepts_english(body: str, mainland: bool) -> bool:
    """Whether the English forms count for this text: the recipient is outside mainland China
    and the body (the text after its signature) has no Chinese character."""
    return not mainland and _HAN(body) is None


def has_unsubscribe(text: str, english: bool = False) -> bool:
    """True when ``text`` ends with an unsubscribe instruction.

    Accepted forms (any letter case, ASCII or full-width letters, optional spaces between the
    words, then only punctuation or whitespace up to the end):

    * ``拒收|退订`` + ``回|回复|请回|请回复`` + code: 拒收请回复R, 拒收回R, 退订回T, 退订回复TD;
    * ``回|回复|请回|请回复`` + code + ``退订|拒收``: 回T退订, 回TD退订, 回复STOP退订, 回N退订;
    * ``Reply STOP to opt out`` (or ``opt-out``, ``unsubscribe``);

    where code is one of R, T, TD, N, STOP.  An instruction followed by more text does not count.

    With ``english`` (:func:`accepts_english`), also the usual English forms, any case:

    * [``Reply|Text|Txt|Send|Respond`` [``with``]] word [``to`` short code] ``to`` action:
      ``STOP to end``, ``Reply STOP to cancel``, ``Text STOP to 12345 to opt out``;
    * [``To``] ``opt out|unsubscribe|stop messages``, then ``reply|text|…`` word:
      ``To opt out, reply STOP``, ``Unsubscribe: text STOP``;
    * word ``=`` action: ``Reply STOP=opt out``;

    where word is STOP, STOPALL, UNSUBSCRIBE, CANCEL, END or QUIT (quotes allowed) and action is
    opt out, unsubscribe, end, cancel, quit, stop or stop (receiving) messages.
    """
    backwards = text[::-1]
    if _REVERSED_UNSUBSCRIBE(backwards) is not None:
        return True
    if not english:
        return False
    end = len(text) - _trailing(backwards).end()
    return _ENGLISH(text, max(0, end - _ENGLISH_MAX), end) is not None
