"""The deliver_sm PDUs the simulator originates: delivery receipts and mobile-originated texts.

Both are encoded once with sequence 0 (:class:`~smsgate.smsc.session.Delivery` patches the
sequence per send), so a receipt that has to wait for a receiver costs nothing to resend.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from smsgate.domain.segments import encode_gsm7, encode_ucs2, is_gsm7
from smsgate.smpp.dlr import receipt_text
from smsgate.smpp.parts import DC_DEFAULT, DC_UCS2, ESM_UDHI, decode_text
from smsgate.smpp.pdu import CommandId, Pdu, Tag, encode
from smsgate.smsc.outcome import Outcome

__all__ = ["ESM_RECEIPT", "mo_pdu", "preview", "receipt_pdu"]

ESM_RECEIPT = 0x04  # esm_class: SMSC delivery receipt
_MAX_SHORT_MESSAGE = 254


def preview(submit: Pdu) -> tuple[str, tuple[int, int, int] | None]:
    """The first 20 characters of a submitted part (for the receipt's ``text:``) and its
    concatenation UDH.  Only the head is decoded: the receipt shows no more."""
    sm = bytes(submit.fields["short_message"])  # type: ignore[arg-type]
    esm_class = int(submit.fields["esm_class"])  # type: ignore[call-overload]
    head = 1 + sm[0] if esm_class & ESM_UDHI and sm else 0
    try:
        text, concat = decode_text(sm[:head + 40], int(submit.fields["data_coding"]), esm_class)  # type: ignore[call-overload]
    except ValueError:  # unknown data_coding or a broken UDH: a carrier would still deliver it
        return "", None
    return text[:20], concat


# Receipt dates are local time with no zone in SMPP; mainland carriers write China time, and so
# do we (the client reads them with SmppConfig.receipt_tz, Asia/Shanghai by default).
RECEIPT_TZ = ZoneInfo("Asia/Shanghai")


def receipt_pdu(submit: Pdu, receipt_id: str, outcome: Outcome, *, text: str,
                submitted: datetime, done: datetime) -> bytes:
    """A receipt for ``submit``: addresses swapped, the id in the text and in the TLVs."""
    f = submit.fields
    body = receipt_text(receipt_id, outcome.stat, outcome.err, submit=submitted.astimezone(RECEIPT_TZ),
                        done=done.astimezone(RECEIPT_TZ), text=text)
    pdu = Pdu(CommandId.DELIVER_SM, 0, fields={
        "source_addr_ton": f["dest_addr_ton"], "source_addr_npi": f["dest_addr_npi"],
        "source_addr": f["destination_addr"],
        "dest_addr_ton": f["source_addr_ton"], "dest_addr_npi": f["source_addr_npi"],
        "destination_addr": f["source_addr"],
        "esm_class": ESM_RECEIPT, "short_message": body,
    }, tlvs={
        Tag.RECEIPTED_MESSAGE_ID: receipt_id.encode("ascii") + b"\0",
        Tag.MESSAGE_STATE: bytes((outcome.state,)),
    })  # fmt: skip
    return encode(pdu)


def mo_pdu(source: str, destination: str, text: str) -> bytes:
    """A handset's reply: GSM 03.38 when the text allows, else UCS-2; message_payload when it
    does not fit short_message (replies such as "TD" are short, but tests send long ones too)."""
    data, coding = (encode_gsm7(text), DC_DEFAULT) if is_gsm7(text) else (encode_ucs2(text), DC_UCS2)
    # "+8613800000000" is sent as international (TON 1); digits alone as the handset gave them
    # (TON unknown), since "13800000000" is a mainland number, not +1 380...
    ton = 1 if source.startswith("+") else 0
    fields: dict[str, object] = {"source_addr_ton": ton, "source_addr_npi": 1,
                                 "source_addr": source.lstrip("+"), "destination_addr": destination,
                                 "data_coding": coding}
    tlvs: dict[int, bytes] = {}
    if len(data) <= _MAX_SHORT_MESSAGE:
        fields["short_message"] = data
    else:
        tlvs[Tag.MESSAGE_PAYLOAD] = data
    return encode(Pdu(CommandId.DELIVER_SM, 0, fields=fields, tlvs=tlvs))
