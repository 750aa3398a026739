"""SMPP 3.4 PDUs: the command table, one generic encoder and one generic decoder.

Written by hand: no maintained Python SMPP codec fits an asyncio gateway (smpplib is a blocking
client that owns its socket; smpp.pdu, Jasmin's codec, lives inside a Twisted stack).  The protocol is a
16-octet header, a fixed table of mandatory fields per command (SMPP 3.4 §4) and a TLV tail
(§5.3), so one table and two short loops cover every PDU the gateway speaks, with no I/O here.

Habits (from ``smpp.pdu``): each command's body is *one* field table; :func:`encode` and
:func:`decode` walk it.  A decode failure is a :class:`PduError` carrying the status to answer
with, and :func:`error_response` builds the answer (the command's own ``*_resp`` for a request
whose command_id is known, ``generic_nack`` otherwise), so a session never guesses.

Decoding is lenient where carriers are known to be sloppy and it costs nothing: C-Octet strings
longer than the spec's maximum are accepted, a response's last C-Octet string may lack its NUL,
and a response with an empty body (allowed for error responses, §4.1.2/§4.4.2) decodes with no
fields.  ``decode(..., strict=True)`` is what an SMSC applies to the requests it takes: an
over-long string fails with its field's own status (ESME_RINVSRCADR for source_addr …), a
short_message over 254 octets with ESME_RINVMSGLEN, and a known TLV of the wrong size with
ESME_RINVPARLEN.  Encoding is strict: over-long strings, out-of-range integers and unknown field
names raise ValueError, so the gateway never sends what a strict SMSC would reject.

Statuses of decode failures: a body too short for its mandatory fields (or a body on a command
that has none) is ESME_RINVCMDLEN, an sm_length running past the body ESME_RINVMSGLEN, a broken
TLV stream ESME_RINVOPTPARSTREAM, an unknown command_id ESME_RINVCMDID.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import NamedTuple

__all__ = [
    "MAX_PDU",
    "CommandId",
    "Pdu",
    "PduError",
    "Status",
    "Tag",
    "decode",
    "encode",
    "error_response",
    "generic_nack",
    "pdu_length",
    "response_to",
]

MAX_PDU = 65536  # largest command_length accepted: a framing guard against garbage lengths
_RESP = 0x80000000
_HEADER = struct.Struct(">IIII")
_TLV_HEAD = struct.Struct(">HH")


class CommandId(IntEnum):
    """The commands the gateway sends or answers (SMPP 3.4 §5.1.2)."""

    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    CANCEL_SM = 0x00000008
    CANCEL_SM_RESP = 0x80000008
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015


class Status(IntEnum):
    """command_status values (SMPP 3.4 §5.1.3).  Pdu.status stays a plain int: carriers also
    send vendor codes (0x400-0x4FF) that are not members."""

    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RINVPRTFLG = 0x06
    ESME_RINVREGDLVFLG = 0x07
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RINVMSGID = 0x0C
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RCANCELFAIL = 0x11
    ESME_RREPLACEFAIL = 0x13
    ESME_RMSGQFUL = 0x14
    ESME_RINVSERTYP = 0x15
    ESME_RINVESMCLASS = 0x43
    ESME_RSUBMITFAIL = 0x45
    ESME_RINVSRCTON = 0x48
    ESME_RINVSRCNPI = 0x49
    ESME_RINVDSTTON = 0x50
    ESME_RINVDSTNPI = 0x51
    ESME_RINVSYSTYP = 0x53
    ESME_RTHROTTLED = 0x58
    ESME_RINVSCHED = 0x61
    ESME_RINVEXPIRY = 0x62
    ESME_RQUERYFAIL = 0x67
    ESME_RINVTLVSTREAM = 0xC0  # ESME_RINVOPTPARSTREAM in the 3.4 text
    ESME_ROPTPARNOTALLWD = 0xC1
    ESME_RINVPARLEN = 0xC2
    ESME_RMISSINGOPTPARAM = 0xC3
    ESME_RINVOPTPARAMVAL = 0xC4
    ESME_RDELIVERYFAILURE = 0xFE
    ESME_RUNKNOWNERR = 0xFF


class Tag(IntEnum):
    """Optional parameter (TLV) tags (SMPP 3.4 §5.3.2)."""

    DEST_ADDR_SUBUNIT = 0x0005
    SOURCE_ADDR_SUBUNIT = 0x000D
    PAYLOAD_TYPE = 0x0019
    ADDITIONAL_STATUS_INFO_TEXT = 0x001D
    RECEIPTED_MESSAGE_ID = 0x001E
    MS_MSG_WAIT_FACILITIES = 0x0030
    USER_MESSAGE_REFERENCE = 0x0204
    USER_RESPONSE_CODE = 0x0205
    SOURCE_PORT = 0x020A
    DESTINATION_PORT = 0x020B
    SAR_MSG_REF_NUM = 0x020C
    LANGUAGE_INDICATOR = 0x020D
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    CALLBACK_NUM = 0x0381
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    DELIVERY_FAILURE_REASON = 0x0425
    MORE_MESSAGES_TO_SEND = 0x0426
    MESSAGE_STATE = 0x0427
    USSD_SERVICE_OP = 0x0501


class PduError(Exception):
    """A PDU that cannot be decoded; answer it with ``error_response(error)``.

    ``sequence`` and ``command_id`` are filled in when the header could be read, so the answer
    can be the command's own response and carry the offender's sequence number (§4.3.1).
    """

    def __init__(self, status: Status, message: str, sequence: int | None = None,
                 command_id: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.sequence = sequence
        self.command_id = command_id


@dataclass(slots=True)
class Pdu:
    """One PDU as plain data: mandatory fields by name, TLVs as raw values in wire order."""

    command_id: CommandId
    sequence: int
    status: int = 0
    fields: dict[str, object] = field(default_factory=dict)
    tlvs: dict[int, bytes] = field(default_factory=dict)

    @property
    def is_response(self) -> bool:
        """True for *_resp and generic_nack: PDUs that answer a request and are not answered."""
        return bool(self.command_id & _RESP)

    def tlv_int(self, tag: int) -> int | None:
        """An integer TLV (1, 2 or 4 octets, big-endian), or None if absent."""
        value = self.tlvs.get(tag)
        return None if value is None else int.from_bytes(value, "big")

    def tlv_str(self, tag: int) -> str | None:
        """A C-Octet TLV (e.g. receipted_message_id) without its NUL, or None if absent."""
        value = self.tlvs.get(tag)
        if value is None:
            return None
        return value.split(b"\0", 1)[0].decode("latin-1")


# --- field tables (SMPP 3.4 §4) ------------------------------------------------------------------


class _Field(NamedTuple):
    name: str
    kind: str  # "c": C-Octet string of at most size octets incl. NUL; "u8": 1-octet int; "sm"
    size: int
    default: object
    error: Status  # the status a strict decode answers for a value over ``size``


def _c(name: str, size: int, error: Status = Status.ESME_RINVPARLEN) -> _Field:
    return _Field(name, "c", size, "", error)


def _u8(name: str, default: int = 0) -> _Field:
    return _Field(name, "u8", 1, default, Status.ESME_RINVPARLEN)


_SOURCE = _c("source_addr", 21, Status.ESME_RINVSRCADR)
_DESTINATION = _c("destination_addr", 21, Status.ESME_RINVDSTADR)
_ID = _c("message_id", 65, Status.ESME_RINVMSGID)
_SERVICE_TYPE = _c("service_type", 6, Status.ESME_RINVSERTYP)

_BIND = (
    _c("system_id", 16, Status.ESME_RINVSYSID), _c("password", 9, Status.ESME_RINVPASWD),
    _c("system_type", 13, Status.ESME_RINVSYSTYP),
    _u8("interface_version", 0x34), _u8("addr_ton"), _u8("addr_npi"), _c("address_range", 41),
)
_BIND_RESP = (_c("system_id", 16, Status.ESME_RINVSYSID),)
_SM = (
    _SERVICE_TYPE, _u8("source_addr_ton"), _u8("source_addr_npi"), _SOURCE,
    _u8("dest_addr_ton"), _u8("dest_addr_npi"), _DESTINATION,
    _u8("esm_class"), _u8("protocol_id"), _u8("priority_flag"),
    _c("schedule_delivery_time", 17, Status.ESME_RINVSCHED),
    _c("validity_period", 17, Status.ESME_RINVEXPIRY), _u8("registered_delivery"),
    _u8("replace_if_present_flag"), _u8("data_coding"), _u8("sm_default_msg_id"),
    _Field("short_message", "sm", 254, b"", Status.ESME_RINVMSGLEN),  # preceded by sm_length
)
_MESSAGE_ID = (_ID,)
_QUERY = (_ID, _u8("source_addr_ton"), _u8("source_addr_npi"), _SOURCE)  # §4.8.1
_QUERY_RESP = (_ID, _c("final_date", 17), _u8("message_state"), _u8("error_code"))  # §4.8.2
_CANCEL = (  # §4.9.1; cancel_sm_resp has no body (§4.9.2)
    _SERVICE_TYPE, _ID, _u8("source_addr_ton"), _u8("source_addr_npi"), _SOURCE,
    _u8("dest_addr_ton"), _u8("dest_addr_npi"), _DESTINATION,
)

# (least, most) octets of the TLVs whose size SMPP 3.4 §5.3.2 fixes; a strict decode refuses
# others with ESME_RINVPARLEN.  Tags not listed (message_payload, vendor tags) may be any size.
_TLV_SIZES: dict[int, tuple[int, int]] = {
    Tag.DEST_ADDR_SUBUNIT: (1, 1), Tag.SOURCE_ADDR_SUBUNIT: (1, 1), Tag.PAYLOAD_TYPE: (1, 1),
    Tag.ADDITIONAL_STATUS_INFO_TEXT: (1, 256), Tag.RECEIPTED_MESSAGE_ID: (1, 65),
    Tag.MS_MSG_WAIT_FACILITIES: (1, 1), Tag.USER_MESSAGE_REFERENCE: (2, 2),
    Tag.USER_RESPONSE_CODE: (1, 1), Tag.SOURCE_PORT: (2, 2), Tag.DESTINATION_PORT: (2, 2),
    Tag.SAR_MSG_REF_NUM: (2, 2), Tag.LANGUAGE_INDICATOR: (1, 1), Tag.SAR_TOTAL_SEGMENTS: (1, 1),
    Tag.SAR_SEGMENT_SEQNUM: (1, 1), Tag.SC_INTERFACE_VERSION: (1, 1), Tag.CALLBACK_NUM: (4, 19),
    Tag.NETWORK_ERROR_CODE: (3, 3), Tag.DELIVERY_FAILURE_REASON: (1, 1),
    Tag.MORE_MESSAGES_TO_SEND: (1, 1), Tag.MESSAGE_STATE: (1, 1), Tag.USSD_SERVICE_OP: (1, 1),
}  # fmt: skip

_BODIES: dict[CommandId, tuple[_Field, ...]] = {
    CommandId.GENERIC_NACK: (),
    CommandId.BIND_RECEIVER: _BIND,
    CommandId.BIND_TRANSMITTER: _BIND,
    CommandId.BIND_TRANSCEIVER: _BIND,
    CommandId.BIND_RECEIVER_RESP: _BIND_RESP,
    CommandId.BIND_TRANSMITTER_RESP: _BIND_RESP,
    CommandId.BIND_TRANSCEIVER_RESP: _BIND_RESP,
    CommandId.SUBMIT_SM: _SM,
    CommandId.DELIVER_SM: _SM,
    CommandId.SUBMIT_SM_RESP: _MESSAGE_ID,
    CommandId.DELIVER_SM_RESP: _MESSAGE_ID,
    CommandId.QUERY_SM: _QUERY,
    CommandId.QUERY_SM_RESP: _QUERY_RESP,
    CommandId.CANCEL_SM: _CANCEL,
    CommandId.CANCEL_SM_RESP: (),
    CommandId.UNBIND: (),
    CommandId.UNBIND_RESP: (),
    CommandId.ENQUIRE_LINK: (),
    CommandId.ENQUIRE_LINK_RESP: (),
}


# --- encoding ------------------------------------------------------------------------------------


def encode(pdu: Pdu) -> bytes:
    """The wire bytes of ``pdu``; missing fields take their defaults (0, "", interface 0x34).

    An error response (status != 0) with no fields and no TLVs is sent without a body, as
    SMPP 3.4 prescribes for bind_*_resp and submit_sm_resp.  Raises ValueError for values the
    spec does not allow.
    """
    body = _encode_body(pdu)
    length = _HEADER.size + len(body)
    if length > MAX_PDU:
        raise ValueError(f"PDU of {length} octets exceeds MAX_PDU")
    if not 0 <= pdu.sequence <= 0xFFFFFFFF or not 0 <= pdu.status <= 0xFFFFFFFF:
        raise ValueError("sequence and status must fit in 32 bits")
    return _HEADER.pack(length, pdu.command_id, pdu.status, pdu.sequence) + body


def _encode_body(pdu: Pdu) -> bytes:
    command = CommandId(pdu.command_id)
    table = _BODIES[command]
    unknown = set(pdu.fields) - {f.name for f in table}
    if unknown:
        raise ValueError(f"{command.name} has no field(s) {sorted(unknown)}")
    if not table and pdu.tlvs:
        raise ValueError(f"{command.name} has no body")
    if pdu.is_response and pdu.status and not pdu.fields and not pdu.tlvs:
        return b""
    out = bytearray()
    for f in table:
        _encode_field(out, f, pdu.fields.get(f.name, f.default))
    for tag, value in pdu.tlvs.items():
        if len(value) > 0xFFFF:
            raise ValueError(f"TLV 0x{tag:04x} longer than 65535 octets")
        out += _TLV_HEAD.pack(tag, len(value)) + bytes(value)
    return bytes(out)


def _encode_field(out: bytearray, f: _Field, value: object) -> None:
    if f.kind == "u8":
        if not isinstance(value, int) or not 0 <= value <= 0xFF:
            raise ValueError(f"{f.name} must be an int in 0..255, not {value!r}")
        out.append(value)
    elif f.kind == "c":
        out += _c_octets(f, value)
    else:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise ValueError(f"short_message must be bytes, not {type(value).__name__}")
        raw = bytes(value)
        if len(raw) > f.size:
            raise ValueError(f"short_message of {len(raw)} octets exceeds 254; use message_payload")
        out.append(len(raw))
        out += raw


def _c_octets(f: _Field, value: object) -> bytes:
    """A C-Octet string: latin-1, no embedded NUL, at most ``f.size`` octets with its NUL."""
    try:
        raw = value.encode("latin-1") if isinstance(value, str) else b"\0"
    except UnicodeEncodeError:
        raw = b"\0"
    if len(raw) >= f.size or b"\0" in raw:
        raise ValueError(f"{f.name} must be a latin-1 str of at most {f.size - 1} octets "
                         f"without NUL, not {value!r}")
    return raw + b"\0"


# --- decoding ------------------------------------------------------------------------------------


def pdu_length(header: bytes) -> int:
    """command_length from the first 4 octets, for framing a stream.

    Raises PduError (ESME_RINVCMDLEN) below 16 or above MAX_PDU: the stream cannot be trusted
    after that, so the session should answer (:func:`error_response`) and close.
    """
    if len(header) < 4:
        raise ValueError("need at least the 4 octets of command_length")
    length = int.from_bytes(header[:4], "big")
    if 16 <= length <= MAX_PDU:
        return length
    sequence = command_id = None
    if len(header) >= 16:
        _, command_id, _, sequence = _HEADER.unpack_from(header)
    raise PduError(Status.ESME_RINVCMDLEN, f"command_length {length}", sequence, command_id)


def decode(data: bytes, *, strict: bool = False) -> Pdu:
    """One whole PDU (``data`` starts with its command_length).  Raises PduError.

    ``strict`` also refuses what the spec does not allow but a lenient reader can still use
    (see the module docstring): an SMSC decodes the ESME's requests so.
    """
    if len(data) < _HEADER.size:
        raise PduError(Status.ESME_RINVCMDLEN, f"{len(data)} octets is shorter than a header")
    length, cid, status, sequence = _HEADER.unpack_from(data)
    if length != len(data) or length > MAX_PDU:
        raise PduError(Status.ESME_RINVCMDLEN, f"command_length {length} for {len(data)} octets",
                       sequence, cid)
    try:
        command = CommandId(cid)
    except ValueError:
        raise PduError(Status.ESME_RINVCMDID, f"unknown command_id 0x{cid:08x}", sequence, cid) from None
    try:
        fields, tlvs = _decode_body(command, bytes(data[_HEADER.size:]), strict)
    except PduError as e:
        raise PduError(e.status, f"{command.name}: {e}", sequence, cid) from None
    return Pdu(command, sequence, status, fields, tlvs)


def _decode_body(command: CommandId, body: bytes, strict: bool) -> tuple[dict[str, object], dict[int, bytes]]:
    table = _BODIES[command]
    if not table:
        if body:
            raise PduError(Status.ESME_RINVCMDLEN, f"unexpected body of {len(body)} octets")
        return {}, {}
    is_response = bool(command & _RESP)
    if is_response and not body:
        return {}, {}  # error responses may omit their body
    fields: dict[str, object] = {}
    pos = 0
    for i, f in enumerate(table):
        lenient = is_response and i == len(table) - 1
        fields[f.name], pos = _decode_field(f, body, pos, lenient, strict)
    return fields, _decode_tlvs(body, pos, strict)


def _decode_field(f: _Field, body: bytes, pos: int, lenient: bool, strict: bool) -> tuple[object, int]:
    if f.kind == "u8":
        if pos >= len(body):
            raise PduError(Status.ESME_RINVCMDLEN, f"body ends before {f.name}")
        return body[pos], pos + 1
    if f.kind == "c":
        end = body.find(b"\0", pos)
        if end < 0:
            if not lenient:
                raise PduError(Status.ESME_RINVCMDLEN, f"{f.name} is not NUL-terminated within the body")
            return body[pos:].decode("latin-1"), len(body)
        if strict and end - pos >= f.size:
            raise PduError(f.error, f"{f.name} of {end - pos} octets exceeds {f.size - 1}")
        return body[pos:end].decode("latin-1"), end + 1
    if pos >= len(body):
        raise PduError(Status.ESME_RINVCMDLEN, "body ends before sm_length")
    end = pos + 1 + body[pos]
    if end > len(body):
        raise PduError(Status.ESME_RINVMSGLEN, f"sm_length {body[pos]} overruns the body")
    if strict and body[pos] > f.size:
        raise PduError(f.error, f"sm_length {body[pos]} exceeds {f.size}")
    return body[pos + 1:end], end


def _decode_tlvs(body: bytes, pos: int, strict: bool) -> dict[int, bytes]:
    tlvs: dict[int, bytes] = {}
    while pos < len(body):
        if pos + _TLV_HEAD.size > len(body):
            raise PduError(Status.ESME_RINVTLVSTREAM, "truncated TLV header")
        tag, length = _TLV_HEAD.unpack_from(body, pos)
        pos += _TLV_HEAD.size
        if pos + length > len(body):
            raise PduError(Status.ESME_RINVTLVSTREAM, f"TLV 0x{tag:04x} of {length} overruns the body")
        if strict and tag in _TLV_SIZES:
            least, most = _TLV_SIZES[tag]
            if not least <= length <= most:
                raise PduError(Status.ESME_RINVPARLEN, f"TLV 0x{tag:04x} of {length} octets")
        tlvs[tag] = body[pos:pos + length]
        pos += length
    return tlvs


# --- answers -------------------------------------------------------------------------------------


def response_to(request: Pdu, status: int = 0, **fields: object) -> Pdu:
    """The *_resp answering ``request``: same sequence number, given status and fields."""
    if request.is_response:
        raise ValueError(f"{request.command_id.name} is not a request")
    return Pdu(CommandId(request.command_id | _RESP), request.sequence, status, dict(fields))


def generic_nack(error: PduError) -> Pdu:
    """The generic_nack answering an undecodable PDU (sequence 0 when none could be read)."""
    return Pdu(CommandId.GENERIC_NACK, error.sequence or 0, int(error.status))


def error_response(error: PduError) -> Pdu:
    """The answer to a PDU that could not be decoded (SMPP 3.4 §4.3).

    A request whose command_id is known gets its own ``*_resp`` with the error status and its
    sequence number (a malformed submit_sm gets submit_sm_resp ESME_RINVCMDLEN, so the sender's
    window slot is freed by the answer it waits for); anything else (an unknown command_id, an
    unreadable header, a response) gets generic_nack.  Whether a response should be answered at
    all is the caller's decision.
    """
    cid = error.command_id
    if cid is not None and error.sequence is not None and not (cid & _RESP):
        try:
            return Pdu(CommandId(cid | _RESP), error.sequence, int(error.status))
        except ValueError:  # an unknown command: generic_nack below
            pass
    return generic_nack(error)
