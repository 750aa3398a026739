"""Which replies from a phone (MO texts, deliver_sm from a handset) opt its number out.

One place for the words, so that what the README promises and what the dispatcher does agree.
The mainland codes the unsubscribe instructions name (R, T, TD, N, STOP, 退订), and the English
words handsets abroad send (STOP, UNSUBSCRIBE, CANCEL, END, QUIT, as in ``Reply STOP to end``):
the whole reply, any case, surrounding spaces and ASCII or full-width letters alike.
"""

from __future__ import annotations

import unicodedata

__all__ = ["OPT_OUT_WORDS", "is_opt_out"]

OPT_OUT_WORDS = frozenset({
    "r", "t", "td", "n", "退订",  # the mainland codes (拒收请回复R, 回T退订, …)
    "stop", "stopall", "unsubscribe", "cancel", "end", "quit",  # the English ones
})


def is_opt_out(text: str) -> bool:
    """True when the reply is one of :data:`OPT_OUT_WORDS` and nothing else (``Stop``,
    `` QUIT ``, ``ＴＤ``; not ``stop it`` or ``don't stop``)."""
    return unicodedata.normalize("NFKC", text).strip().casefold() in OPT_OUT_WORDS
