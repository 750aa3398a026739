"""Text → submit_sm payloads and back: concatenation is checked byte for byte."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.domain.errors import MessageInvalid
from smsgate.domain.segments import fee_num
from smsgate.smpp.parts import Part, build_parts, decode_text

h = bytes.fromhex


def test_short_gsm_is_one_part_without_udh():
    assert build_parts("Hi @home €5", 7) == [
        Part(b"Hi \x00home \x1b\x655", esm_class=0x00, data_coding=0x00, index=1, total=1)
    ]


def test_short_ucs2_is_one_part_without_udh():
    assert build_parts("你好😀", 7) == [Part(h("4f60 597d d83d de00"), 0x00, 0x08, 1, 1)]


def test_empty_text_is_one_empty_part():
    assert build_parts("", 1) == [Part(b"", 0x00, 0x00, 1, 1)]


def test_long_gsm_parts_exact_bytes():
    text = "a" * 153 + "b" * 153 + "c"
    parts = build_parts(text, 0x2A)
    assert [p.short_message for p in parts] == [
        h("050003 2a 03 01") + b"a" * 153,
        h("050003 2a 03 02") + b"b" * 153,
        h("050003 2a 03 03") + b"c",
    ]
    assert {(p.esm_class, p.data_coding, p.total) for p in parts} == {(0x40, 0x00, 3)}
    assert [p.index for p in parts] == [1, 2, 3]


def test_long_ucs2_parts_exact_bytes():
    text = "中" * 70 + "文"  # 71 units: 67 + 4
    parts = build_parts(text, 0x1FF)  # only the low 8 bits are sent
    assert [p.short_message for p in parts] == [
        h("050003 ff 02 01") + h("4e2d") * 67,
        h("050003 ff 02 02") + h("4e2d") * 3 + h("6587"),
    ]
    assert {(p.esm_class, p.data_coding) for p in parts} == {(0x40, 0x08)}
    assert len(parts[0].short_message) == 140


def test_surrogate_pair_is_not_split_between_parts():
    text = "中" * 66 + "😀" + "x" * 5  # 73 units
    first, second = build_parts(text, 1)
    assert first.short_message[6:] == h("4e2d") * 66  # the emoji would not fit whole
    assert second.short_message[6:] == h("d83d de00") + h("0078") * 5


def test_unencodable_text_is_refused():
    with pytest.raises(MessageInvalid):
        build_parts("a\ud800b", 1)


def test_more_than_255_parts_is_refused():
    with pytest.raises(ValueError):
        build_parts("x" * (153 * 255 + 1), 1)


@given(st.text(max_size=1200), st.integers(0, 0xFFFF))
def test_parts_rebuild_the_text(text, reference):
    try:
        parts = build_parts(text, reference)
    except MessageInvalid:  # lone surrogates
        return
    assert len(parts) == fee_num(text)
    decoded = [decode_text(p.short_message, p.data_coding, p.esm_class) for p in parts]
    assert "".join(t for t, _ in decoded) == text
    total = len(parts)
    for i, (part, (_, concat)) in enumerate(zip(parts, decoded, strict=True), 1):
        assert (part.index, part.total) == (i, total)
        if total == 1:
            assert concat is None and part.esm_class == 0
        else:
            assert concat == (reference & 0xFF, total, i)
        limit = 140 if part.data_coding == 0x08 else (160 if total == 1 else 159)
        assert len(part.short_message) <= limit


# --- decode_text (MO and the simulator) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("short_message", "data_coding", "expected"),
    [
        (b"Hi \x00home \x1b\x65\x1b\x3c\x11", 0, "Hi @home €[_"),
        (b"\x1b\x41", 0, "A"),  # unknown extension code: its basic character
        (b"ok\x80", 0, "ok\ufffd"),  # not a septet
        (h("4f60 597d d83d de00"), 8, "你好😀"),
        (h("d83d"), 8, "\ufffd"),  # lone surrogate
        (b"caf\xe9", 3, "café"),
        (b"plain", 1, "plain"),
    ],
)
def test_decode_text(short_message, data_coding, expected):
    assert decode_text(short_message, data_coding, 0x00) == (expected, None)


def test_decode_16_bit_reference_udh():
    udh = h("06 08 04 1234 03 02")
    assert decode_text(udh + b"abc", 0, 0x40) == ("abc", (0x1234, 3, 2))


def test_decode_skips_other_information_elements():
    udh = h("09 0a 02 0000 00 03 07 02 01")  # a 2-octet IE 0x0a, then the concat IE
    assert decode_text(udh + h("4f60"), 8, 0x40) == ("你", (7, 2, 1))


def test_udh_flag_without_concat_ie():
    assert decode_text(h("03 0a 01 00") + b"x", 0, 0x40) == ("x", None)


@pytest.mark.parametrize("short_message", [b"", h("09 00 03 01 02 01"), h("05 00 05 01 02 01")])
def test_malformed_udh_is_refused(short_message):
    with pytest.raises(ValueError):
        decode_text(short_message, 0, 0x40)


def test_unsupported_data_coding_is_refused():
    with pytest.raises(ValueError):
        decode_text(b"\x01\x02", 0x04, 0)
