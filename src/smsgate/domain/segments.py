"""SMS encoding, length and splitting (GSM 03.38 default alphabet or UCS-2).

The same code computes ``fee_num`` when a message is accepted and builds the parts the SMPP
layer sends, so what is billed is exactly what is sent.

Written by hand: the GSM alphabet is a fixed table of 3GPP TS 23.038 (§6.2.1 default alphabet,
§6.2.1.1 extension table), and the splitting rules (160/153 septets, 70/67 UTF-16 code units,
never cutting an escape pair or a surrogate pair) are a few lines; no library does this with the
speed needed (several times per message at 25,000+ messages per second).

Splitting is greedy: each part takes as many whole characters as fit.  A "character" is a code
point; grapheme clusters (emoji ZWJ sequences, combining marks) may straddle parts, as on
handsets.  Text that cannot be encoded at all (lone surrogates, e.g. from a JSON ``"\\ud800"``)
raises :class:`MessageInvalid` from :func:`segment` and :func:`fee_num`, so it is refused at
acceptance instead of failing at send time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from smsgate.domain.errors import MessageInvalid

__all__ = [
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "Segmentation",
    "encode_gsm7",
    "encode_ucs2",
    "fee_num",
    "is_gsm7",
    "segment",
]

# 3GPP TS 23.038 §6.2.1, in code order: index == septet value.  Index 0x1B is ESC, the escape
# to the extension table; it is a placeholder, not a character a text may contain.
GSM7_BASIC: str = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
assert len(GSM7_BASIC) == 128

_ESC = 0x1B

# 3GPP TS 23.038 §6.2.1.1: characters sent as ESC + code.
GSM7_EXTENSION: dict[str, int] = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}

_GSM7_SINGLE = 160
_GSM7_MULTI = 153  # 160 minus the 7 septets of the concatenation UDH
_UCS2_SINGLE = 70
_UCS2_MULTI = 67  # 140 octets minus the 6-octet UDH, in 2-octet units

_BASIC_CODES = {ch: i for i, ch in enumerate(GSM7_BASIC) if i != _ESC}
_GSM7_CHARS = "".join(_BASIC_CODES) + "".join(GSM7_EXTENSION)
# A single regex search (C speed) finds the first character outside both tables, or none.
_non_gsm7 = re.compile("[^" + re.escape(_GSM7_CHARS) + "]").search
_extension = re.compile("[" + re.escape("".join(GSM7_EXTENSION)) + "]").search
_EXTENSION_CHARS = tuple(GSM7_EXTENSION)
# str.translate + latin-1 turns text into unpacked septets in one C-level pass.
_TO_SEPTETS = {ord(ch): chr(code) for ch, code in _BASIC_CODES.items()}
_TO_SEPTETS.update({ord(ch): "\x1b" + chr(code) for ch, code in GSM7_EXTENSION.items()})


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM 03.38 default alphabet or its extension table."""
    return _non_gsm7(text) is None


@dataclass(frozen=True, slots=True)
class Segmentation:
    """How a text is sent: its encoding and the exact text of each part."""

    encoding: str  # "gsm7" or "ucs2"
    parts: tuple[str, ...]

    @property
    def fee_num(self) -> int:
        """Billed messages: one per part."""
        return len(self.parts)


def _utf16(text: str) -> bytes:
    """UTF-16BE of ``text``; raises MessageInvalid for lone surrogates."""
    try:
        return text.encode("utf-16-be")
    except UnicodeEncodeError:
        raise MessageInvalid("Parameter: Message contains invalid characters.") from None


def _escaped(text: str) -> str:
    """``text`` with an ESC inserted before each extension character: one char per septet,
    ESC exactly where the encoding has one (GSM-7 text never contains ESC itself).  Cheaper
    than translating every character; only lengths and ESC positions are read from it."""
    for ch in _EXTENSION_CHARS:
        if ch in text:
            text = text.replace(ch, "\x1b" + ch)
    return text


def _gsm7_cuts(septets: str) -> list[int]:
    """End offsets (in septets) of the multipart parts; a part never ends on an ESC.

    No septet after an ESC is 0x1B (no extension code is), so a trailing ESC always starts a pair.
    One iteration per part, not per character.
    """
    cuts = []
    pos = 0
    n = len(septets)
    while pos < n:
        end = min(pos + _GSM7_MULTI, n)
        if end < n and septets[end - 1] == "\x1b":
            end -= 1
        cuts.append(end)
        pos = end
    return cuts


def _ucs2_cuts(data: bytes) -> list[int]:
    """End offsets (in bytes) of the multipart parts; a part never ends on a high surrogate."""
    cuts = []
    pos = 0
    n = len(data)
    limit = 2 * _UCS2_MULTI
    while pos < n:
        end = min(pos + limit, n)
        if end < n and 0xD8 <= data[end - 2] <= 0xDB:
            end -= 2
        cuts.append(end)
        pos = end
    return cuts


def segment(text: str) -> Segmentation:
    """Choose the encoding of ``text`` and split it into the parts that will be sent.

    GSM-7 when every character allows it: 160 septets in one part, else 153 per part (an
    extension character costs 2 and is never split from its escape).  Otherwise UCS-2: 70 code
    units in one part, else 67 per part (a non-BMP character costs 2 and is never split).
    Empty text is one (empty) part.
    """
    if _non_gsm7(text) is None:
        n = len(text)
        if _extension(text) is None:  # one septet per character
            if n <= _GSM7_SINGLE:
                return Segmentation("gsm7", (text,))
            return Segmentation("gsm7", _slices(text, _GSM7_MULTI))
        septets = _escaped(text)
        if len(septets) <= _GSM7_SINGLE:
            return Segmentation("gsm7", (text,))
        parts = []
        start = char = 0
        for end in _gsm7_cuts(septets):
            chunk_chars = end - start - septets.count("\x1b", start, end)
            parts.append(text[char : char + chunk_chars])
            char += chunk_chars
            start = end
        return Segmentation("gsm7", tuple(parts))
    data = _utf16(text)
    units = len(data) >> 1
    if units <= _UCS2_SINGLE:
        return Segmentation("ucs2", (text,))
    if units == len(text):  # BMP only: one unit per character
        return Segmentation("ucs2", _slices(text, _UCS2_MULTI))
    parts = []
    start = 0
    for end in _ucs2_cuts(data):
        parts.append(data[start:end].decode("utf-16-be"))
        start = end
    return Segmentation("ucs2", tuple(parts))


def _slices(text: str, size: int) -> tuple[str, ...]:
    return tuple(text[i : i + size] for i in range(0, len(text), size))


def fee_num(text: str) -> int:
    """Number of parts of ``text``: the same answer as ``segment(text).fee_num``, without
    building part strings (arithmetic when every character is one unit)."""
    if _non_gsm7(text) is None:
        n = len(text)
        if _extension(text) is None:
            return 1 if n <= _GSM7_SINGLE else -(-n // _GSM7_MULTI)
        septets = _escaped(text)
        if len(septets) <= _GSM7_SINGLE:
            return 1
        return len(_gsm7_cuts(septets))
    data = _utf16(text)
    units = len(data) >> 1
    if units <= _UCS2_SINGLE:
        return 1
    if units == len(text):
        return -(-units // _UCS2_MULTI)
    return len(_ucs2_cuts(data))


def encode_gsm7(text: str) -> bytes:
    """Unpacked GSM-7: one septet per octet, ESC (0x1B) + code for extension characters.

    This is what SMPP ``data_coding`` 0 carries.  Raises ValueError if ``text`` is not GSM-7
    (callers choose the encoding with :func:`segment`).
    """
    bad = _non_gsm7(text)
    if bad is not None:
        raise ValueError(f"not in the GSM 03.38 alphabet: {bad.group()!r}")
    return text.translate(_TO_SEPTETS).encode("latin-1")


def encode_ucs2(text: str) -> bytes:
    """UTF-16BE (UCS-2 on the wire), characters outside the BMP as surrogate pairs.

    Raises MessageInvalid for lone surrogates, which have no valid encoding.
    """
    return _utf16(text)
