"""Which part a delivery receipt is about: the id submit_sm_resp gave the part against the id
the receipt names.

Carriers spell their ids their own way.  Jasmin lost receipts because "0A1B2C" came back as
"0a1b2c", "000a1b2c" or the decimal "662316"; and treating every spelling as one id is no
answer either: a carrier counting 1, 2, … in hex hands out "10" (sixteen) after "a" (ten), so
reading "10" as decimal credits the wrong part.  Hence: a part keeps the id it was given, once,
and a receipt is matched in steps (:func:`choose`), by the channel's ``receipt_id_format`` (the
carrier's habit, like Kannel's msg-id-type):

``string``
    ids are opaque: the same characters (blanks around them aside).
``hex``
    ids are hexadecimal numbers: case, leading zeros and ``0x`` do not matter.
``decimal``
    ids are decimal numbers: leading zeros do not matter.
``auto`` (the default)
    first the open part spelt exactly like the receipt's id; otherwise another reading of the
    id, if it names exactly one open part: the same hex digits in another case or with other
    leading zeros (tried at once), or the same number in the other base, hex for decimal or
    decimal for hex (tried only once the receipt has waited for a part spelt exactly like it:
    its part may not be recorded yet, and "a" would name part "10" meanwhile).  A receipt
    that names several open parts is ambiguous and credited to no one.

A part is *open* until a final receipt is applied to it.  An id the carrier hands out again
(a counter that wraps or restarts) names the newest open part spelt that way; a part that has
its receipt is never credited again.  Every id has one index key, :func:`id_key` (lower case,
no ``0x``, no leading zeros), whatever the format; a part is found under its own key, and
:func:`lookup_keys` lists the keys under which a receipt's id may find its part.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["FORMATS", "Candidate", "Choice", "Reading", "Verdict", "choose", "clean", "id_key",
           "lookup_keys", "reading"]

FORMATS = ("auto", "hex", "decimal", "string")
_BLANKS = " \t\r\n\0"
_HEX = frozenset("0123456789abcdefABCDEF")
_NUMBER_DIGITS = 40  # longer ids are never read as numbers (int() of a huge string is slow)


def clean(carrier_id: str) -> str:
    """The id without the blanks (and C string NULs) carriers leave around it."""
    return carrier_id.strip(_BLANKS)


def id_key(carrier_id: str) -> str:
    """The key a part is found under: lower case, without a ``0x`` before hex digits, without
    leading zeros ("0A1B2C", "000a1b2c", "0x0a1b2c" → "a1b2c"; "000" → "0"; "" → "")."""
    s = clean(carrier_id).lower()
    if s.startswith("0x") and len(s) > 2 and _HEX.issuperset(s[2:]):
        s = s[2:]
    return s.lstrip("0") or ("0" if s else "")


def _hex(s: str) -> int | None:
    """The value of a cleaned id read as hex ("0x" allowed), or None."""
    digits = s[2:] if s[:2] in ("0x", "0X") else s
    if digits and len(digits) <= _NUMBER_DIGITS and _HEX.issuperset(digits):
        return int(digits, 16)
    return None


def _decimal(s: str) -> int | None:
    """The value of a cleaned id read as decimal, or None."""
    if s and len(s) <= _NUMBER_DIGITS and s.isascii() and s.isdigit():
        return int(s)
    return None


def lookup_keys(receipt_id: str, id_format: str) -> tuple[str, ...]:
    """The keys under which a part named by ``receipt_id`` may have been recorded: its own key,
    and (``auto``) the keys of the same number spelt in the other base."""
    key = id_key(receipt_id)
    if not key:
        return ()
    if id_format != "auto":
        return (key,)
    s = clean(receipt_id)
    keys = [key]
    as_hex, as_decimal = _hex(s), _decimal(s)
    if as_hex is not None:
        keys.append(str(as_hex))  # a part whose id is that number in decimal
    if as_decimal is not None:
        keys.append(format(as_decimal, "x"))  # a part whose id is that number in hex
    return tuple(dict.fromkeys(keys))


class Reading(enum.Enum):
    EXACT = "exact"  # the same id, as the format reads ids
    SPELLING = "spelling"  # auto: the same hex digits, in another case or with other zeros
    BASE = "base"  # auto: the same number, written in the other base


def reading(receipt_id: str, part_id: str, id_format: str) -> Reading | None:
    """How the id a receipt names reads as the id a part was given, if at all."""
    r, p = clean(receipt_id), clean(part_id)
    if not r or not p:
        return None
    if r == p:
        return Reading.EXACT
    if id_format == "string":
        return None
    if id_format == "hex":
        return Reading.EXACT if id_key(r) == id_key(p) else None
    if id_format == "decimal":
        same = r.isascii() and p.isascii() and r.isdigit() and p.isdigit() and id_key(r) == id_key(p)
        return Reading.EXACT if same else None
    if id_key(r) == id_key(p):
        return Reading.SPELLING
    receipt_hex, part_decimal = _hex(r), _decimal(p)
    if receipt_hex is not None and receipt_hex == part_decimal:
        return Reading.BASE
    receipt_decimal, part_hex = _decimal(r), _hex(p)
    if receipt_decimal is not None and receipt_decimal == part_hex:
        return Reading.BASE
    return None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A part found under one of a receipt's keys."""

    part: tuple[str, int]  # (message id, part index)
    carrier_id: str  # as submit_sm_resp gave it
    submitted_at: int
    open: bool  # no final receipt applied yet


class Verdict(enum.Enum):
    CREDIT = "credit"  # ``Choice.part`` gets the receipt
    WAIT = "wait"  # not yet: kept until its part is recorded or the other readings are tried
    AMBIGUOUS = "ambiguous"  # names several open parts: credited to no one
    DUPLICATE = "duplicate"  # repeats a receipt a part already has
    UNKNOWN = "unknown"  # names no part we know


@dataclass(frozen=True, slots=True)
class Choice:
    verdict: Verdict
    part: tuple[str, int] | None = None
    parts: tuple[tuple[str, int], ...] = ()  # the open parts an ambiguous receipt names


def choose(receipt_id: str, id_format: str, candidates: Iterable[Candidate], *, final: bool) -> Choice:
    """Which part gets a receipt.  In order: the newest open part with the same id; an open
    part spelt otherwise (``auto``: case, zeros), if only one; then, only when ``final`` (the
    receipt has waited for its part): a receipt naming a part that already has its receipt is
    a duplicate; an open part with the same number in the other base, if only one; else no
    part is known.  Not ``final``, whatever is past the second step waits."""
    graded = [(reading(receipt_id, c.carrier_id, id_format), c) for c in {c.part: c for c in candidates}.values()]
    exact = [c for g, c in graded if g is Reading.EXACT and c.open]
    if exact:
        return Choice(Verdict.CREDIT, max(exact, key=lambda c: (c.submitted_at, c.part)).part)
    spelt = _one([c for g, c in graded if g is Reading.SPELLING and c.open])
    if spelt.verdict is Verdict.CREDIT or (spelt.verdict is Verdict.AMBIGUOUS and final):
        return spelt
    if not final:
        return Choice(Verdict.WAIT)
    if any(not c.open and g in (Reading.EXACT, Reading.SPELLING) for g, c in graded):
        return Choice(Verdict.DUPLICATE)
    based = _one([c for g, c in graded if g is Reading.BASE and c.open])
    return based if based.verdict is not Verdict.WAIT else Choice(Verdict.UNKNOWN)


def _one(candidates: list[Candidate]) -> Choice:
    if len(candidates) == 1:
        return Choice(Verdict.CREDIT, candidates[0].part)
    if candidates:
        return Choice(Verdict.AMBIGUOUS, parts=tuple(sorted(c.part for c in candidates)))
    return Choice(Verdict.WAIT)
