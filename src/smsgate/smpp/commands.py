"""SMPP 3.4's vocabulary: command ids, statuses, TLV tags, the :class:`Pdu` as plain data, and
the field table of every command's body (§4), which :mod:`smsgate.smpp.pdu`'s codec walks."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import NamedTuple

__all__ = ["BODIES", "RESP", "TLV_SIZES", "CommandId", "Field", "Pdu", "PduError", "Status", "Tag"]

RESP = 0x80000000  # command_id bit of a response


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
        return bool(self.command_id & RESP)

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


class Field(NamedTuple):
    name: str
    kind: str  # "c": C-Octet string of at most size octets incl. NUL; "u8": 1-octet int; "sm"
    size: int
    default: object
    error: Status  # the status a strict decode answers for a value over ``size``


def _c(name: str, size: int, error: Status = Status.ESME_RINVPARLEN) -> Field:
    return Field(name, "c", size, "", error)


def _u8(name: str, default: int = 0) -> Field:
    return Field(name, "u8", 1, default, Status.ESME_RINVPARLEN)


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
    Field("short_message", "sm", 254, b"", Status.ESME_RINVMSGLEN),  # preceded by sm_length
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
TLV_SIZES: dict[int, tuple[int, int]] = {
    Tag.DEST_ADDR_SUBUNIT: (1, 1), Tag.SOURCE_ADDR_SUBUNIT: (1, 1), Tag.PAYLOAD_TYPE: (1, 1),
    Tag.ADDITIONAL_STATUS_INFO_TEXT: (1, 256), Tag.RECEIPTED_MESSAGE_ID: (1, 65),
    Tag.MS_MSG_WAIT_FACILITIES: (1, 1), Tag.USER_MESSAGE_REFERENCE: (2, 2),
    Tag.USER_RESPONSE_CODE: (1, 1), Tag.SOURCE_PORT: (2, 2), Tag.DESTINATION_PORT: (2, 2),
    Tag.SAR_MSG_REF_NUM: (2, 2), Tag.LANGUAGE_INDICATOR: (1, 1), Tag.SAR_TOTAL_SEGMENTS: (1, 1),
    Tag.SAR_SEGMENT_SEQNUM: (1, 1), Tag.SC_INTERFACE_VERSION: (1, 1), Tag.CALLBACK_NUM: (4, 19),
    Tag.NETWORK_ERROR_CODE: (3, 3), Tag.DELIVERY_FAILURE_REASON: (1, 1),
    Tag.MORE_MESSAGES_TO_SEND: (1, 1), Tag.MESSAGE_STATE: (1, 1), Tag.USSD_SERVICE_OP: (1, 1),
}  # fmt: skip

BODIES: dict[CommandId, tuple[Field, ...]] = {
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
