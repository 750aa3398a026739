"""Message text ⇄ submit_sm payloads: encoding, concatenation UDH, and the way back.

The split itself comes from :func:`smsgate.domain.segments.segment`, the function that also
computes ``fee_num`` at acceptance, so what is billed is exactly what is sent.  This module only
adds what SMPP needs on top: the data_coding value, and for long messages the 6-octet
concatenation UDH (3GPP TS 23.040 §9.2.3.24.1) with esm_class UDHI.  Jasmin garbled UCS-2 long
messages; here the UDH is built in one place and tested byte for byte.

GSM-7 text is sent unpacked (one septet per octet), as SMPP ``data_coding`` 0 expects: a long
part is 6 + 153 = 159 octets, inside short_message's 254.
"""

from __future__ import annotations

from typing import NamedTuple

from smsgate.domain.segments import GSM7_BASIC, GSM7_EXTENSION, encode_gsm7, encode_ucs2, segment

__all__ = ["DC_DEFAULT", "DC_UCS2", "ESM_UDHI", "Part", "build_parts", "decode_text", "wire_part"]

DC_DEFAULT = 0x00  # SMSC default alphabet: GSM 03.38, unpacked
DC_IA5 = 0x01
DC_LATIN1 = 0x03
DC_UCS2 = 0x08
ESM_UDHI = 0x40  # esm_class bit: short_message starts with a User Data Header

_ENCODERS = {"gsm7": (encode_gsm7, DC_DEFAULT), "ucs2": (encode_ucs2, DC_UCS2)}
_GSM7_DECODE = {i: ch for i, ch in enumerate(GSM7_BASIC) if i != 0x1B}
_GSM7_EXT_DECODE = {code: ch for ch, code in GSM7_EXTENSION.items()}


class Part(NamedTuple):  # a tuple: built per part, 3x faster than a frozen dataclass
    """One submit_sm's worth of a message: put these three fields on the PDU as they are."""

    short_message: bytes
    esm_class: int
    data_coding: int
    index: int  # 1-based
    total: int


def build_parts(text: str, reference: int) -> list[Part]:
    """The submit_sm payloads of ``text``; ``len(result) == fee_num(text)``.

    ``reference`` ties the parts of one message together on the handset; only its low 8 bits
    are sent, so a plain counter will do.  Raises MessageInvalid for unencodable text and
    ValueError past 255 parts (the UDH cannot number them).
    """
    seg = segment(text)
    total = len(seg.parts)
    return [wire_part(chunk, seg.encoding, i, total, reference) for i, chunk in enumerate(seg.parts, 1)]


def wire_part(text: str, encoding: str, index: int, total: int, reference: int) -> Part:
    """The submit_sm payload of part ``index`` of ``total`` (its ``text`` cut by
    :func:`~smsgate.domain.segments.segment`, in that ``encoding``): the concatenation UDH and
    esm_class UDHI when there are several parts.  Raises ValueError past 255 parts."""
    encode, data_coding = _ENCODERS[encoding]
    if total == 1:
        return Part(encode(text), 0x00, data_coding, 1, 1)
    if total > 255:
        raise ValueError(f"{total} parts: a concatenation UDH numbers at most 255")
    return Part(bytes((5, 0, 3, reference & 0xFF, total, index)) + encode(text), ESM_UDHI,
                data_coding, index, total)


def decode_text(short_message: bytes, data_coding: int,
                esm_class: int) -> tuple[str, tuple[int, int, int] | None]:
    """The text of a received short_message and its ``(ref, total, index)`` if concatenated.

    Understands the 8-bit (IE 0x00) and 16-bit (IE 0x08) reference concatenation IEs; other IEs
    are skipped.  data_coding 0 is GSM 03.38 unpacked with the extension table, 1 ASCII, 3
    latin-1, 8 UCS-2 (surrogate pairs joined).  Undecodable octets become U+FFFD rather than
    failing, since an MO must still be acknowledged.  Raises ValueError for a malformed UDH or an
    unsupported data_coding.
    """
    concat = None
    payload = bytes(short_message)
    if esm_class & ESM_UDHI:
        concat, payload = _split_udh(payload)
    return _decode_payload(payload, data_coding), concat


def _split_udh(data: bytes) -> tuple[tuple[int, int, int] | None, bytes]:
    if not data or 1 + data[0] > len(data):
        raise ValueError("UDH length overruns short_message")
    udh, payload = data[1:1 + data[0]], data[1 + data[0]:]
    concat = None
    pos = 0
    while pos + 2 <= len(udh):
        iei, size = udh[pos], udh[pos + 1]
        value = udh[pos + 2:pos + 2 + size]
        if len(value) != size:
            raise ValueError("UDH information element overruns the header")
        if iei == 0x00 and size == 3:
            concat = (value[0], value[1], value[2])
        elif iei == 0x08 and size == 4:
            concat = (int.from_bytes(value[:2], "big"), value[2], value[3])
        pos += 2 + size
    return concat, payload


def _decode_payload(payload: bytes, data_coding: int) -> str:
    if data_coding == DC_DEFAULT:
        return _decode_gsm7(payload)
    if data_coding == DC_UCS2:
        return payload.decode("utf-16-be", errors="replace")
    if data_coding == DC_LATIN1:
        return payload.decode("latin-1")
    if data_coding == DC_IA5:
        return payload.decode("ascii", errors="replace")
    raise ValueError(f"unsupported data_coding 0x{data_coding:02x}")


def _decode_gsm7(payload: bytes) -> str:
    """Unpacked GSM 03.38.  An unknown extension code shows its basic-table character, as
    23.038 §6.2.1.1 asks of receivers; octets above 0x7F are not septets and become U+FFFD."""
    out = []
    escaped = False
    for octet in payload:
        if escaped:
            out.append(_GSM7_EXT_DECODE.get(octet) or _GSM7_DECODE.get(octet, "\ufffd"))
            escaped = False
        elif octet == 0x1B:
            escaped = True
        else:
            out.append(_GSM7_DECODE.get(octet, "\ufffd"))
    return "".join(out)
