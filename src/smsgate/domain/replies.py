"""Replies from handsets that ask to stop promotional SMS: the one list of reply words.

A promotional text must end with how to opt out (``domain.unsubscribe`` checks that it names one
of :data:`REPLY_CODES`); a reply that is one of those codes, or 退订 itself, opts the number out
of the signature it answered.
"""

from __future__ import annotations

__all__ = ["OPT_OUT_WORDS", "REPLY_CODES", "is_opt_out"]

# The codes an unsubscribe instruction may name (回T退订, 退订回复TD, 回复STOP退订 ...), longest
# first where one begins another (TD before T), as the instruction's regex tries them in order.
REPLY_CODES = ("STOP", "TD", "R", "T", "N")
# What a reply may say to opt out, compared case-insensitively after trimming spaces.
OPT_OUT_WORDS = frozenset({code.casefold() for code in REPLY_CODES} | {"退订"})


def is_opt_out(text: str) -> bool:
    """Whether a reply asks to stop: exactly one of the words, in any case, spaces aside."""
    return text.strip().casefold() in OPT_OUT_WORDS
