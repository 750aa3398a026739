"""SMPP 3.4 codec: fixed wire bytes both ways, decode errors and their statuses, round trips.

The hex vectors are written out by hand from SMPP 3.4 §4 (header: command_length, command_id,
command_status, sequence_number), not produced by the encoder under test.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.smpp.pdu import (
    MAX_PDU,
    CommandId,
    Pdu,
    PduError,
    Status,
    SubmitTemplate,
    Tag,
    decode,
    encode,
    encode_body,
    error_response,
    generic_nack,
    pdu_length,
    response_to,
)

h = bytes.fromhex

BIND_TRX = h(
    "00000024 00000009 00000000 00000001"  # length 36, bind_transceiver, ok, seq 1
    "736d736761746500"  # system_id "smsgate"
    "73656372657400"  # password "secret"
    "00"  # system_type ""
    "34 00 00"  # interface_version 3.4, addr_ton, addr_npi
    "00"  # address_range ""
)
BIND_TRX_PDU = Pdu(CommandId.BIND_TRANSCEIVER, 1, 0, {
    "system_id": "smsgate", "password": "secret", "system_type": "", "interface_version": 0x34,
    "addr_ton": 0, "addr_npi": 0, "address_range": ""})  # fmt: skip

BIND_TRX_RESP = h(
    "0000001a 80000009 00000000 00000001"
    "534d534300"  # system_id "SMSC"
    "0210 0001 34"  # TLV sc_interface_version = 0x34
)
BIND_TRX_RESP_PDU = Pdu(CommandId.BIND_TRANSCEIVER_RESP, 1, 0, {"system_id": "SMSC"},
                        {Tag.SC_INTERFACE_VERSION: b"\x34"})

BIND_TRX_RESP_FAILED = h("00000010 80000009 0000000e 00000001")  # ESME_RINVPASWD, no body

SUBMIT_GSM = h(
    "0000003a 00000004 00000000 00000002"
    "00"  # service_type ""
    "05 00 41636d6500"  # source: alphanumeric, "Acme"
    "01 01 3836313338303031333830303000"  # destination: international/ISDN, "8613800138000"
    "00 00 00"  # esm_class, protocol_id, priority_flag
    "00 00"  # schedule_delivery_time "", validity_period ""
    "01 00 00 00"  # registered_delivery, replace_if_present, data_coding 0, sm_default_msg_id
    "08 4869200068 6f6d65"  # sm_length 8, "Hi @home" in unpacked GSM-7 (@ is 0x00)
)
SUBMIT_FIELDS = {
    "service_type": "", "source_addr_ton": 5, "source_addr_npi": 0, "source_addr": "Acme",
    "dest_addr_ton": 1, "dest_addr_npi": 1, "destination_addr": "8613800138000",
    "esm_class": 0, "protocol_id": 0, "priority_flag": 0, "schedule_delivery_time": "",
    "validity_period": "", "registered_delivery": 1, "replace_if_present_flag": 0,
    "data_coding": 0, "sm_default_msg_id": 0, "short_message": b"Hi \x00home",
}  # fmt: skip
SUBMIT_GSM_PDU = Pdu(CommandId.SUBMIT_SM, 2, 0, SUBMIT_FIELDS)

SUBMIT_UCS2_UDH = h(
    "0000003c 00000004 00000000 00000003"
    "00 05 00 41636d6500 01 01 3836313338303031333830303000"
    "40 00 00"  # esm_class UDHI
    "00 00"
    "01 00 08 00"  # data_coding UCS-2
    "0a 050003 2a 02 01 4f60 597d"  # UDH ref 0x2a, part 1 of 2, then "你好" in UTF-16BE
)
SUBMIT_UCS2_PDU = Pdu(CommandId.SUBMIT_SM, 3, 0, SUBMIT_FIELDS | {
    "esm_class": 0x40, "data_coding": 0x08,
    "short_message": b"\x05\x00\x03\x2a\x02\x01" + "你好".encode("utf-16-be")})  # fmt: skip

SUBMIT_RESP = h("00000017 80000004 00000000 00000002 30413142324300")  # message_id "0A1B2C"
SUBMIT_RESP_PDU = Pdu(CommandId.SUBMIT_SM_RESP, 2, 0, {"message_id": "0A1B2C"})
SUBMIT_RESP_THROTTLED = h("00000010 80000004 00000058 00000002")  # no body on error

# A receipt as carriers send them (SMPP 3.4 Appendix B text plus the §5.3.2 TLVs), with the id
# spelt differently in the TLV (as submit_sm_resp gave it) and in the text.
RECEIPT_TEXT = (b"id:0a1b2c sub:001 dlvrd:001 submit date:2401151230 done date:2401151231 "
                b"stat:DELIVRD err:000 text:Hi there")  # fmt: skip
DELIVER_RECEIPT_TLV = (
    h(
        "000000b3 00000005 00000000 00000123"
        "00 01 01 3836313338303031333830303000"  # from the handset
        "05 00 41636d6500"  # to us
        "04 00 00"  # esm_class: SMSC delivery receipt
        "00 00 00 00 00 00"
        "6a"  # sm_length 106
    )
    + RECEIPT_TEXT
    + h(
        "001e 0007 30413142324300"  # receipted_message_id "0A1B2C"
        "0427 0001 02"  # message_state DELIVERED
        "0423 0003 030000"  # network_error_code GSM, 0
    )
)
RECEIPT_ONLY_TEXT = (b"id:662316 sub:001 dlvrd:000 submit date:240115123005 done date:240116080000 "
                     b"stat:UNDELIV err:001 text:")  # fmt: skip
DELIVER_RECEIPT_TEXT = (
    h("00000098 00000005 00000000 7fffffff"
      "00 01 01 3836313338303031333830303000 05 00 41636d6500 04 00 00 00 00 00 00 00 00 66")
    + RECEIPT_ONLY_TEXT
)
DELIVER_SM_RESP = h("00000011 80000005 00000000 00000123 00")

ENQUIRE_LINK = h("00000010 00000015 00000000 0000000b")
ENQUIRE_LINK_RESP = h("00000010 80000015 00000000 0000000b")
GENERIC_NACK = h("00000010 80000000 00000003 00000007")
UNBIND = h("00000010 00000006 00000000 0000000c")
UNBIND_RESP = h("00000010 80000006 00000000 0000000c")

# query_sm and cancel_sm (SMPP 3.4 §4.8, §4.9) about the message "1A2B3C1" sent from "Acme".
QUERY_SM = h(
    "0000001f 00000003 00000000 00000004"
    "31413242334331 00"  # message_id "1A2B3C1"
    "05 00 41636d6500"  # source_addr_ton, source_addr_npi, source_addr "Acme"
)
QUERY_SM_PDU = Pdu(CommandId.QUERY_SM, 4, 0, {
    "message_id": "1A2B3C1", "source_addr_ton": 5, "source_addr_npi": 0, "source_addr": "Acme"})  # fmt: skip
QUERY_SM_RESP_FINAL = h(
    "0000002b 80000003 00000000 00000004"
    "31413242334331 00"  # message_id
    "3236303131353132333030353030302b 00"  # final_date "260115123005000+" (UTC, tenths 0)
    "02 00"  # message_state DELIVERED, error_code 0
)
QUERY_SM_RESP_FINAL_PDU = Pdu(CommandId.QUERY_SM_RESP, 4, 0, {
    "message_id": "1A2B3C1", "final_date": "260115123005000+", "message_state": 2, "error_code": 0})  # fmt: skip
QUERY_SM_RESP_ENROUTE = h("0000001b 80000003 00000000 00000004 31413242334331 00 00 01 00")  # no final_date yet
QUERY_SM_RESP_FAILED = h("00000010 80000003 00000067 00000004")  # ESME_RQUERYFAIL, no body
CANCEL_SM = h(
    "00000030 00000008 00000000 00000005"
    "00"  # service_type ""
    "31413242334331 00"  # message_id "1A2B3C1"
    "05 00 41636d6500"  # source "Acme"
    "01 01 3836313338303031333830303000"  # destination "8613800138000"
)
CANCEL_SM_PDU = Pdu(CommandId.CANCEL_SM, 5, 0, {
    "service_type": "", "message_id": "1A2B3C1", "source_addr_ton": 5, "source_addr_npi": 0,
    "source_addr": "Acme", "dest_addr_ton": 1, "dest_addr_npi": 1, "destination_addr": "8613800138000"})  # fmt: skip
CANCEL_SM_RESP = h("00000010 80000008 00000000 00000005")  # cancel_sm_resp has no body
CANCEL_SM_RESP_FAILED = h("00000010 80000008 00000011 00000005")  # ESME_RCANCELFAIL

VECTORS = [
    pytest.param(BIND_TRX, BIND_TRX_PDU, id="bind_transceiver"),
    pytest.param(BIND_TRX_RESP, BIND_TRX_RESP_PDU, id="bind_transceiver_resp"),
    pytest.param(BIND_TRX_RESP_FAILED, Pdu(CommandId.BIND_TRANSCEIVER_RESP, 1, 0x0E), id="bind_resp_failed"),
    pytest.param(SUBMIT_GSM, SUBMIT_GSM_PDU, id="submit_sm_gsm"),
    pytest.param(SUBMIT_UCS2_UDH, SUBMIT_UCS2_PDU, id="submit_sm_ucs2_udh"),
    pytest.param(SUBMIT_RESP, SUBMIT_RESP_PDU, id="submit_sm_resp"),
    pytest.param(SUBMIT_RESP_THROTTLED, Pdu(CommandId.SUBMIT_SM_RESP, 2, 0x58), id="submit_sm_resp_throttled"),
    pytest.param(DELIVER_SM_RESP, Pdu(CommandId.DELIVER_SM_RESP, 0x123, 0, {"message_id": ""}), id="deliver_sm_resp"),
    pytest.param(ENQUIRE_LINK, Pdu(CommandId.ENQUIRE_LINK, 11), id="enquire_link"),
    pytest.param(ENQUIRE_LINK_RESP, Pdu(CommandId.ENQUIRE_LINK_RESP, 11), id="enquire_link_resp"),
    pytest.param(GENERIC_NACK, Pdu(CommandId.GENERIC_NACK, 7, 3), id="generic_nack"),
    pytest.param(UNBIND, Pdu(CommandId.UNBIND, 12), id="unbind"),
    pytest.param(UNBIND_RESP, Pdu(CommandId.UNBIND_RESP, 12), id="unbind_resp"),
    pytest.param(QUERY_SM, QUERY_SM_PDU, id="query_sm"),
    pytest.param(QUERY_SM_RESP_FINAL, QUERY_SM_RESP_FINAL_PDU, id="query_sm_resp_final"),
    pytest.param(QUERY_SM_RESP_ENROUTE, Pdu(CommandId.QUERY_SM_RESP, 4, 0, {
        "message_id": "1A2B3C1", "final_date": "", "message_state": 1, "error_code": 0}), id="query_sm_resp_enroute"),
    pytest.param(QUERY_SM_RESP_FAILED, Pdu(CommandId.QUERY_SM_RESP, 4, 0x67), id="query_sm_resp_failed"),
    pytest.param(CANCEL_SM, CANCEL_SM_PDU, id="cancel_sm"),
    pytest.param(CANCEL_SM_RESP, Pdu(CommandId.CANCEL_SM_RESP, 5), id="cancel_sm_resp"),
    pytest.param(CANCEL_SM_RESP_FAILED, Pdu(CommandId.CANCEL_SM_RESP, 5, 0x11), id="cancel_sm_resp_failed"),
]  # fmt: skip


@pytest.mark.parametrize(("wire", "pdu"), VECTORS)
def test_decode_vector(wire, pdu):
    assert decode(wire) == pdu


@pytest.mark.parametrize(("wire", "pdu"), VECTORS)
def test_encode_vector(wire, pdu):
    assert encode(pdu) == wire


@pytest.mark.parametrize("wire", [p.values[0] for p in VECTORS] + [DELIVER_RECEIPT_TLV, DELIVER_RECEIPT_TEXT])
def test_reencode_is_identical(wire):
    assert encode(decode(wire)) == wire


def test_carrier_receipt_with_tlvs():
    pdu = decode(DELIVER_RECEIPT_TLV)
    assert pdu.command_id is CommandId.DELIVER_SM
    assert pdu.sequence == 0x123
    assert pdu.fields["esm_class"] == 0x04
    assert pdu.fields["source_addr"] == "8613800138000"
    assert pdu.fields["short_message"] == RECEIPT_TEXT
    assert list(pdu.tlvs) == [Tag.RECEIPTED_MESSAGE_ID, Tag.MESSAGE_STATE, Tag.NETWORK_ERROR_CODE]
    assert pdu.tlv_str(Tag.RECEIPTED_MESSAGE_ID) == "0A1B2C"
    assert pdu.tlv_int(Tag.MESSAGE_STATE) == 2
    assert pdu.tlv_int(Tag.SAR_MSG_REF_NUM) is None
    assert pdu.tlv_str(Tag.SAR_MSG_REF_NUM) is None


def test_text_only_receipt():
    pdu = decode(DELIVER_RECEIPT_TEXT)
    assert pdu.sequence == 0x7FFFFFFF
    assert pdu.fields["short_message"] == RECEIPT_ONLY_TEXT
    assert pdu.tlvs == {}


def test_missing_fields_take_defaults():
    pdu = Pdu(CommandId.BIND_TRANSCEIVER, 1, fields={"system_id": "smsgate", "password": "secret"})
    assert encode(pdu) == BIND_TRX  # interface_version defaults to 0x34, the rest to 0 / ""
    sparse = {k: v for k, v in SUBMIT_FIELDS.items() if v not in (0, "")}
    assert encode(Pdu(CommandId.SUBMIT_SM, 2, fields=sparse)) == SUBMIT_GSM


def test_ok_response_with_no_fields_still_has_its_body():
    assert encode(Pdu(CommandId.DELIVER_SM_RESP, 0x123)) == DELIVER_SM_RESP


def test_response_last_string_without_nul_is_tolerated():
    # Some SMSCs forget the NUL after message_id; the id is still usable.
    pdu = decode(h("00000016 80000004 00000000 00000002 304131423243"))
    assert pdu.fields == {"message_id": "0A1B2C"}


def test_over_long_strings_are_accepted_on_decode():
    long_id = b"x" * 80
    wire = (16 + 81).to_bytes(4, "big") + h("80000004 00000000 00000001") + long_id + b"\0"
    assert decode(wire).fields["message_id"] == "x" * 80


# --- decode errors ------------------------------------------------------------------------------


def _with_length(body: bytes) -> bytes:
    """Rewrite command_length to match, so only the body is at fault."""
    return len(body).to_bytes(4, "big") + body[4:]


@pytest.mark.parametrize(
    ("wire", "status"),
    [
        pytest.param(SUBMIT_GSM[:10], Status.ESME_RINVCMDLEN, id="shorter-than-header"),
        pytest.param(SUBMIT_GSM[:-1], Status.ESME_RINVCMDLEN, id="length-says-more"),
        pytest.param(SUBMIT_GSM + b"\0", Status.ESME_RINVCMDLEN, id="length-says-less"),
        pytest.param(_with_length(SUBMIT_GSM[:-4]), Status.ESME_RINVMSGLEN, id="sm_length-overruns"),
        pytest.param(_with_length(SUBMIT_GSM[:30]), Status.ESME_RINVCMDLEN, id="body-ends-early"),
        pytest.param(_with_length(SUBMIT_GSM[:16 + 29]), Status.ESME_RINVCMDLEN, id="body-ends-before-sm_length"),
        pytest.param(_with_length(BIND_TRX[:-1]), Status.ESME_RINVCMDLEN, id="string-without-nul"),
        pytest.param(_with_length(QUERY_SM[:-3]), Status.ESME_RINVCMDLEN, id="query_sm-cut"),
        pytest.param(_with_length(CANCEL_SM_RESP + b"\0"), Status.ESME_RINVCMDLEN, id="cancel_sm_resp-with-body"),
        pytest.param(h("00000010 00000103 00000000 00000005"), Status.ESME_RINVCMDID, id="data_sm"),
        pytest.param(h("00000010 80000103 00000000 00000005"), Status.ESME_RINVCMDID, id="data_sm_resp"),
        pytest.param(_with_length(ENQUIRE_LINK + b"\0"), Status.ESME_RINVCMDLEN, id="enquire_link-with-body"),
        pytest.param(_with_length(BIND_TRX_RESP[:-1]), Status.ESME_RINVTLVSTREAM, id="tlv-overruns"),
        pytest.param(_with_length(BIND_TRX_RESP[:-3]), Status.ESME_RINVTLVSTREAM, id="tlv-header-cut"),
        pytest.param(_with_length(SUBMIT_GSM + h("0424 0010 41")), Status.ESME_RINVTLVSTREAM, id="payload-tlv-overruns"),
    ],
)  # fmt: skip
def test_decode_error_status(wire, status):
    with pytest.raises(PduError) as caught:
        decode(wire)
    assert caught.value.status == status


def test_decode_error_carries_sequence_and_command_for_the_nack():
    with pytest.raises(PduError) as caught:
        decode(h("00000010 00000103 00000000 00000005"))
    assert (caught.value.sequence, caught.value.command_id) == (5, 0x103)
    assert encode(generic_nack(caught.value)) == h("00000010 80000000 00000003 00000005")


def test_nack_for_unreadable_header_uses_sequence_zero():
    with pytest.raises(PduError) as caught:
        decode(b"\x00\x00")
    assert caught.value.sequence is None
    assert encode(generic_nack(caught.value)) == h("00000010 80000000 00000002 00000000")


# --- strict decoding (what an SMSC applies to the requests it takes) ---------------------------

SUBMIT_LONG_SM = (
    h("00000131 00000004 00000000 00000002 00 05 00 41636d6500 01 01 3836313338303031333830303000"
      "00 00 00 00 00 01 00 00 00 ff")
    + b"x" * 255  # sm_length 255: one more than short_message may hold
)


@pytest.mark.parametrize(
    ("wire", "status"),
    [
        pytest.param(_with_length(SUBMIT_GSM[:19] + b"A" * 21 + SUBMIT_GSM[23:]), Status.ESME_RINVSRCADR,
                     id="source_addr"),
        pytest.param(_with_length(SUBMIT_GSM[:26] + b"1" * 21 + SUBMIT_GSM[39:]), Status.ESME_RINVDSTADR,
                     id="destination_addr"),
        pytest.param(_with_length(SUBMIT_GSM[:16] + b"CMTXYZ" + SUBMIT_GSM[16:]), Status.ESME_RINVSERTYP,
                     id="service_type"),
        pytest.param(_with_length(SUBMIT_GSM[:44] + b"1" * 17 + SUBMIT_GSM[44:]), Status.ESME_RINVEXPIRY,
                     id="validity_period"),
        pytest.param(SUBMIT_LONG_SM, Status.ESME_RINVMSGLEN, id="sm_length-255"),
        pytest.param(_with_length(SUBMIT_GSM + h("020c 0001 07")), Status.ESME_RINVPARLEN,
                     id="sar_msg_ref_num-1-octet"),
        pytest.param(_with_length(SUBMIT_GSM + h("0427 0002 0002")), Status.ESME_RINVPARLEN,
                     id="message_state-2-octets"),
        pytest.param(_with_length(BIND_TRX[:16] + b"x" * 16 + BIND_TRX[23:]), Status.ESME_RINVSYSID, id="system_id"),
        pytest.param(_with_length(BIND_TRX[:24] + b"123456789" + BIND_TRX[30:]), Status.ESME_RINVPASWD, id="password"),
        pytest.param(_with_length(QUERY_SM[:16] + b"f" * 65 + QUERY_SM[23:]), Status.ESME_RINVMSGID,
                     id="query_sm-message_id"),
    ],
)  # fmt: skip
def test_strict_decode_names_the_field_at_fault(wire, status):
    decode(wire)  # a lenient reader (the gateway reading a carrier) still takes it
    with pytest.raises(PduError) as caught:
        decode(wire, strict=True)
    assert caught.value.status == status
    assert caught.value.sequence == int.from_bytes(wire[12:16], "big")


@pytest.mark.parametrize("wire", [SUBMIT_GSM, SUBMIT_UCS2_UDH, BIND_TRX, QUERY_SM, CANCEL_SM,
                                  _with_length(SUBMIT_GSM + h("020c 0002 0007 020e 0001 02 020f 0001 01"))])
def test_strict_decode_takes_what_the_spec_allows(wire):
    assert decode(wire, strict=True) == decode(wire)


# --- answering what cannot be decoded -----------------------------------------------------------


def _error(wire: bytes) -> PduError:
    with pytest.raises(PduError) as caught:
        decode(wire, strict=True)
    return caught.value


@pytest.mark.parametrize(
    ("wire", "answer"),
    [
        # a known request gets its own response, with the request's sequence number
        pytest.param(_with_length(SUBMIT_GSM[:30]), h("00000010 80000004 00000002 00000002"), id="submit_sm-cut"),
        pytest.param(_with_length(SUBMIT_GSM + h("0424 0010 41")), h("00000010 80000004 000000c0 00000002"),
                     id="submit_sm-tlv"),
        pytest.param(_with_length(BIND_TRX[:-1]), h("00000010 80000009 00000002 00000001"), id="bind_transceiver-cut"),
        pytest.param(_with_length(ENQUIRE_LINK + b"\0"), h("00000010 80000015 00000002 0000000b"),
                     id="enquire_link-body"),
        pytest.param(_with_length(QUERY_SM[:-3]), h("00000010 80000003 00000002 00000004"), id="query_sm-cut"),
        pytest.param(_with_length(CANCEL_SM[:-1]), h("00000010 80000008 00000002 00000005"), id="cancel_sm-cut"),
        # an unknown command, or a response, gets generic_nack
        pytest.param(h("00000010 00000103 00000000 00000005"), h("00000010 80000000 00000003 00000005"), id="data_sm"),
        pytest.param(_with_length(BIND_TRX_RESP[:-1]), h("00000010 80000000 000000c0 00000001"), id="bind_resp-tlv"),
    ],
)  # fmt: skip
def test_error_response(wire, answer):
    assert encode(error_response(_error(wire))) == answer


def test_error_response_to_a_bad_length_keeps_the_command_when_the_header_was_read():
    with pytest.raises(PduError) as caught:
        pdu_length(h("0000000f 00000004 00000000 00000009"))
    assert encode(error_response(caught.value)) == h("00000010 80000004 00000002 00000009")
    with pytest.raises(PduError) as caught:
        pdu_length(h("0000000f"))
    assert encode(error_response(caught.value)) == h("00000010 80000000 00000002 00000000")


# --- framing ------------------------------------------------------------------------------------


def test_pdu_length():
    assert pdu_length(SUBMIT_GSM[:4]) == 58
    assert pdu_length(SUBMIT_GSM) == 58
    assert pdu_length(MAX_PDU.to_bytes(4, "big")) == MAX_PDU


@pytest.mark.parametrize("length", [0, 15, MAX_PDU + 1, 0xFFFFFFFF])
def test_pdu_length_refuses_garbage(length):
    header = length.to_bytes(4, "big") + h("00000004 00000000 00000009")
    with pytest.raises(PduError) as caught:
        pdu_length(header)
    assert caught.value.status == Status.ESME_RINVCMDLEN
    assert caught.value.sequence == 9


# --- encode refuses what the spec does not allow ------------------------------------------------


@pytest.mark.parametrize(
    ("command", "fields"),
    [
        (CommandId.BIND_TRANSCEIVER, {"system_id": "x" * 16}),  # 15 + NUL at most
        (CommandId.BIND_TRANSCEIVER, {"password": "123456789"}),  # 8 + NUL at most
        (CommandId.SUBMIT_SM, {"destination_addr": "1" * 21}),
        (CommandId.SUBMIT_SM, {"source_addr": "a\0b"}),
        (CommandId.SUBMIT_SM, {"source_addr": "中"}),  # not latin-1
        (CommandId.SUBMIT_SM, {"data_coding": 256}),
        (CommandId.SUBMIT_SM, {"esm_class": -1}),
        (CommandId.SUBMIT_SM, {"esm_class": "0"}),
        (CommandId.SUBMIT_SM, {"source_addr": None}),
        (CommandId.SUBMIT_SM, {"short_message": "text, not bytes"}),
        (CommandId.SUBMIT_SM, {"short_message": b"x" * 255}),
        (CommandId.SUBMIT_SM, {"destination": "8613800138000"}),  # typo: unknown field
        (CommandId.SUBMIT_SM_RESP, {"system_id": "x"}),
        (CommandId.ENQUIRE_LINK, {"message_id": "x"}),
    ],
)
def test_encode_refuses(command, fields):
    with pytest.raises(ValueError):
        encode(Pdu(command, 1, fields=fields))


def test_encode_accepts_the_maximum_lengths():
    wire = encode(Pdu(CommandId.SUBMIT_SM, 1, fields={
        "source_addr": "s" * 20, "destination_addr": "d" * 20, "short_message": b"x" * 254}))  # fmt: skip
    assert decode(wire).fields["short_message"] == b"x" * 254


def test_tlvs_on_a_bodyless_pdu_are_refused():
    with pytest.raises(ValueError):
        encode(Pdu(CommandId.ENQUIRE_LINK, 1, tlvs={Tag.MESSAGE_STATE: b"\x02"}))


# --- responses ----------------------------------------------------------------------------------


def test_response_to():
    resp = response_to(SUBMIT_GSM_PDU, message_id="0A1B2C")
    assert resp == SUBMIT_RESP_PDU
    assert resp.is_response and not SUBMIT_GSM_PDU.is_response
    assert encode(response_to(SUBMIT_GSM_PDU, Status.ESME_RTHROTTLED)) == SUBMIT_RESP_THROTTLED
    assert encode(response_to(decode(ENQUIRE_LINK))) == ENQUIRE_LINK_RESP
    assert encode(response_to(decode(UNBIND))) == UNBIND_RESP
    assert response_to(BIND_TRX_PDU).command_id is CommandId.BIND_TRANSCEIVER_RESP


@pytest.mark.parametrize("wire", [SUBMIT_RESP, GENERIC_NACK])
def test_responses_are_not_answered(wire):
    with pytest.raises(ValueError):
        response_to(decode(wire))


# --- round trip ---------------------------------------------------------------------------------

LATIN1_NO_NUL = st.characters(min_codepoint=1, max_codepoint=255)


def _cstr(size: int):
    return st.text(LATIN1_NO_NUL, max_size=size - 1)


OCTET = st.integers(0, 255)
submit_fields = st.fixed_dictionaries({
    "service_type": _cstr(6), "source_addr_ton": OCTET, "source_addr_npi": OCTET,
    "source_addr": _cstr(21), "dest_addr_ton": OCTET, "dest_addr_npi": OCTET,
    "destination_addr": _cstr(21), "esm_class": OCTET, "protocol_id": OCTET,
    "priority_flag": OCTET, "schedule_delivery_time": _cstr(17), "validity_period": _cstr(17),
    "registered_delivery": OCTET, "replace_if_present_flag": OCTET, "data_coding": OCTET,
    "sm_default_msg_id": OCTET, "short_message": st.binary(max_size=254),
})  # fmt: skip
tlvs = st.dictionaries(st.integers(0, 0xFFFF), st.binary(max_size=300), max_size=4)


@given(
    command=st.sampled_from([CommandId.SUBMIT_SM, CommandId.DELIVER_SM]),
    sequence=st.integers(0, 0xFFFFFFFF),
    fields=submit_fields,
    tlvs=tlvs,
)
def test_submit_round_trip(command, sequence, fields, tlvs):
    pdu = Pdu(command, sequence, 0, fields, tlvs)
    wire = encode(pdu)
    assert pdu_length(wire) == len(wire)
    assert decode(wire) == pdu


# --- submit_sm from a prepared template -------------------------------------------------------------

_ADDRESS = st.text(alphabet="0123456789+ABCxyz", max_size=22)


@given(source=_ADDRESS, destination=_ADDRESS, ton=st.integers(0, 6), npi=st.integers(0, 18),
       esm_class=st.integers(0, 300), data_coding=st.integers(0, 300), short_message=st.binary(max_size=260))
def test_a_submit_template_writes_what_encode_writes_and_refuses_what_it_refuses(
        source, destination, ton, npi, esm_class, data_coding, short_message):
    fields = {"source_addr_ton": ton, "source_addr_npi": npi, "source_addr": source, "dest_addr_ton": 1,
              "dest_addr_npi": 1, "destination_addr": destination, "esm_class": esm_class,
              "registered_delivery": 1, "data_coding": data_coding, "short_message": short_message}
    try:
        expected = encode(Pdu(CommandId.SUBMIT_SM, 7, 0, fields))
    except ValueError:
        expected = None
    try:
        got = encode_body(CommandId.SUBMIT_SM, 7, SubmitTemplate(source, ton, npi).body(
            destination, esm_class, data_coding, short_message))
    except ValueError:
        got = None
    assert got == expected
