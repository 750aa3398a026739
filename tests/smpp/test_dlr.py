"""Delivery receipts: recognition, tolerant parsing, and id matching across carrier spellings."""

import re
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.domain.carrier_ids import Reading, reading
from smsgate.smpp import dlr
from smsgate.smpp.dlr import Receipt, is_receipt, normalize_id, parse_receipt, receipt_text
from smsgate.smpp.pdu import CommandId, Pdu, Tag, decode
from tests.smpp.test_pdu import DELIVER_RECEIPT_TEXT, DELIVER_RECEIPT_TLV


def deliver(short_message: bytes = b"", esm_class: int = 0x04, data_coding: int = 0,
            **tlvs: bytes) -> Pdu:
    fields = {"esm_class": esm_class, "data_coding": data_coding, "short_message": short_message}
    return Pdu(CommandId.DELIVER_SM, 1, 0, fields, {Tag[k.upper()]: v for k, v in tlvs.items()})


# --- recognising receipts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pdu", "expected"),
    [
        (deliver(esm_class=0x04), True),  # SMSC delivery receipt
        (deliver(esm_class=0x44), True),  # receipt with UDHI set: type bits still say receipt
        (deliver(esm_class=0x20), True),  # intermediate delivery notification
        (deliver(esm_class=0x00), False),  # an MO
        (deliver(esm_class=0x40), False),  # a concatenated MO
        (deliver(esm_class=0x08), False),  # SME delivery acknowledgement: a handset's reply
        (deliver(esm_class=0x00, receipted_message_id=b"abc\0"), True),  # TLV alone suffices
        (Pdu(CommandId.SUBMIT_SM, 1, fields={"esm_class": 0x04}), False),
        (Pdu(CommandId.DELIVER_SM_RESP, 1), False),
    ],
)
def test_is_receipt(pdu, expected):
    assert is_receipt(pdu) is expected


# --- parsing ------------------------------------------------------------------------------------


def test_carrier_receipt_with_tlvs():
    pdu = decode(DELIVER_RECEIPT_TLV)
    assert is_receipt(pdu)
    assert parse_receipt(pdu) == Receipt(
        message_id="a1b2c", stat="DELIVRD", err="000", submit_date="2401151230",
        done_date="2401151231", text="Hi there")  # fmt: skip


def test_carrier_text_only_receipt():
    receipt = parse_receipt(decode(DELIVER_RECEIPT_TEXT))
    assert receipt == Receipt(message_id="662316", stat="UNDELIV", err="001",
                              submit_date="240115123005", done_date="240116080000", text="")
    assert not receipt.delivered and receipt.final
    assert reading(receipt.raw_id, "0A1B2C", "auto") is Reading.BASE  # decimal 662316 == 0xA1B2C


def test_tlvs_win_over_text():
    text = b"id:111 sub:001 dlvrd:001 submit date:2401151230 done date:2401151231 stat:DELIVRD err:000 text:"
    pdu = deliver(text, receipted_message_id=b"FF\0", message_state=b"\x05")
    receipt = parse_receipt(pdu)
    assert (receipt.message_id, receipt.stat, receipt.err) == ("ff", "UNDELIV", "000")
    assert receipt.raw_id == "FF"  # the spelling parts are matched by first


def test_tlv_only_receipt():
    pdu = deliver(b"", esm_class=0, receipted_message_id=b"00A1B2C\0", message_state=b"\x08",
                  network_error_code=b"\x03\x00\x22")  # fmt: skip
    assert parse_receipt(pdu) == Receipt(message_id="a1b2c", stat="REJECTD", err="034")
    assert parse_receipt(pdu).raw_id == "00A1B2C"


@pytest.mark.parametrize(("state", "stat"), [(1, "ENROUTE"), (2, "DELIVRD"), (3, "EXPIRED"), (4, "DELETED"),
                                             (5, "UNDELIV"), (6, "ACCEPTD"), (7, "UNKNOWN"), (8, "REJECTD"),
                                             (9, "UNKNOWN")])  # fmt: skip
def test_message_state_values(state, stat):
    assert parse_receipt(deliver(receipted_message_id=b"1\0", message_state=bytes([state]))).stat == stat


FULL = Receipt("a1b2c", "DELIVRD", "000", "2401151230", "2401151231", "Hello")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id:0A1B2C sub:001 dlvrd:001 submit date:2401151230 done date:2401151231 stat:DELIVRD err:000 text:Hello",
         FULL),
        ("ID:0a1b2c SUB:001 DLVRD:001 SUBMIT DATE:2401151230 DONE DATE:2401151231 STAT:delivrd ERR:000 TEXT:Hello",
         FULL),
        ("id: 0A1B2C   sub: 001  dlvrd:001  submit date: 2401151230  done date:2401151231 stat: DELIVRD  err: 000 "
         "text:Hello  ", FULL),
        ("stat:DELIVRD err:000 done date:2401151231 submit date:2401151230 id:000a1b2c text:Hello", FULL),
        ("id:0a1b2c submit_date:2401151230 done_date:2401151231 stat:Delivered err:000 text:Hello", FULL),
        ("id:0A1B2C submitdate:2401151230 donedate:2401151231 stat:DELIVRD err:000 text:Hello", FULL),
        ("id:0A1B2C stat:DELIVRD", Receipt("a1b2c", "DELIVRD")),
        ("id:42 stat:UNDELIVERABLE err:", Receipt("42", "UNDELIV")),
        ("id:42 stat:expired", Receipt("42", "EXPIRED")),
        ("id:42 stat:REJECTED err:0x1", Receipt("42", "REJECTD", "0x1")),
        ("id:42 stat:ACCEPTED", Receipt("42", "ACCEPTD")),
        ("id:42 stat:ENROUTE", Receipt("42", "ENROUTE")),
        ("id:42 stat:DELETED", Receipt("42", "DELETED")),
        ("id:42 stat:FOOBAR", Receipt("42", "UNKNOWN")),
        ("id:42 stat:2", Receipt("42", "DELIVRD")),  # message_state number in the text
        ("id:42", Receipt("42", "UNKNOWN")),
        ("id:42 submit date:24011512 done date:garbage stat:DELIVRD", Receipt("42", "DELIVRD")),
        # Free text that itself looks like fields does not override the real ones.
        ("id:42 sub:001 dlvrd:000 submit date:2401151230 done date:2401151231 stat:UNDELIV err:005 "
         "text:stat:DELIVRD id:99", Receipt("42", "UNDELIV", "005", "2401151230", "2401151231", "stat:DELIVRD id:99")),
        # text before the remaining fields ends at the first field not seen yet.
        ("id:42 text:see you soon stat:DELIVRD err:000", Receipt("42", "DELIVRD", "000", text="see you soon")),
        ("id:3f2504e0-4f89-11d3-9a0c-0305e82c3301 stat:DELIVRD",
         Receipt("3f2504e0-4f89-11d3-9a0c-0305e82c3301", "DELIVRD")),
    ],
)  # fmt: skip
def test_receipt_text_variants(text, expected):
    assert parse_receipt(deliver(text.encode())) == expected


def test_receipt_in_message_payload():
    text = b"id:0A1B2C stat:DELIVRD err:000"
    assert parse_receipt(deliver(b"", message_payload=text)) == Receipt("a1b2c", "DELIVRD", "000")


def test_ucs2_receipt_text():
    text = "id:0A1B2C stat:DELIVRD text:你好".encode("utf-16-be")
    assert parse_receipt(deliver(text, data_coding=8)) == Receipt("a1b2c", "DELIVRD", text="你好")


@pytest.mark.parametrize("pdu", [deliver(b"stat:DELIVRD err:000"), deliver(b""), deliver(b"id: stat:DELIVRD")])
def test_receipt_without_id_is_refused(pdu):
    with pytest.raises(ValueError):
        parse_receipt(pdu)


def test_final_and_delivered():
    assert Receipt("1", "DELIVRD").delivered
    assert not Receipt("1", "ENROUTE").final and not Receipt("1", "ACCEPTD").final
    assert all(Receipt("1", s).final for s in ("DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "REJECTD", "UNKNOWN"))


# --- receipt_text (the simulator) ---------------------------------------------------------------


def test_receipt_text_exact():
    assert receipt_text("0A1B2C", "DELIVRD", submit=datetime(2024, 1, 15, 12, 30),
                        done=datetime(2024, 1, 15, 12, 31), text="Hello, this is a long message") == (
        b"id:0A1B2C sub:001 dlvrd:001 submit date:2401151230 done date:2401151231 "
        b"stat:DELIVRD err:000 text:Hello, this is a lon"
    )  # fmt: skip


def test_receipt_text_parses_back():
    raw = receipt_text("662316", "UNDELIV", "001", submit=datetime(2024, 1, 15, 12, 30),
                       done=datetime(2024, 1, 16, 8, 0), text="你好 hi")  # fmt: skip
    assert raw.endswith(b"text:?? hi")
    assert parse_receipt(deliver(raw)) == Receipt("662316", "UNDELIV", "001", "2401151230", "2401160800", "?? hi")


def test_receipt_text_refuses_unknown_stat():
    with pytest.raises(ValueError):
        receipt_text("1", "DELIVERED", submit=datetime(2024, 1, 1), done=datetime(2024, 1, 1))


# --- ids ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("carrier_id", "shown"),
    [("0A1B2C", "a1b2c"), (" 0x000a1b2c ", "a1b2c"), ("662316", "662316"), ("000", "0"), ("", ""),
     ("3F2504E0-4F89-11D3", "3f2504e0-4f89-11d3")],
)
def test_normalize_id_is_a_display_form(carrier_id, shown):
    assert normalize_id(carrier_id) == shown


# --- the common format's shortcut -----------------------------------------------------------------

_TOKEN = st.text(alphabet="aZ09:_ \tstextid", max_size=10)


@given(st.lists(_TOKEN, min_size=8, max_size=8), st.booleans())
def test_the_appendix_b_shortcut_reads_what_the_general_reader_reads(values, upper):
    """Receipts in the standard layout are read by one regex; whatever the values (blank,
    colons, other keys inside them), the fields are those the general key-by-key reader finds."""
    body = ("id:{} sub:{} dlvrd:{} submit date:{} done date:{} stat:{} err:{} text:{}").format(*values)
    body = body.upper() if upper else body
    shortcut = dlr._parse_text(body)
    saved, dlr._APPENDIX_B = dlr._APPENDIX_B, re.compile(r"(?!)")  # never matches
    try:
        assert shortcut == dlr._parse_text(body)
    finally:
        dlr._APPENDIX_B = saved


def test_the_shortcut_takes_a_standard_receipt():
    body = receipt_text("0a1B", "DELIVRD", submit=datetime(2024, 1, 15, 12, 30),
                        done=datetime(2024, 1, 16, 8, 0), text="a stat:x err:y").decode()
    assert dlr._APPENDIX_B.fullmatch(body)
    assert dlr._parse_text(body) == {"id": "0a1B", "sub": "001", "dlvrd": "001", "submit date": "2401151230",
                                     "done date": "2401160800", "stat": "DELIVRD", "err": "000",
                                     "text": "a stat:x err:y"}
