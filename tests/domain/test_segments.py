import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.domain.errors import MessageInvalid
from smsgate.domain.segments import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    Segmentation,
    encode_gsm7,
    encode_ucs2,
    fee_num,
    is_gsm7,
    segment,
)

ZH = "中"
EMOJI = "😀"  # outside the BMP: a surrogate pair in UCS-2


def septets(text: str) -> int:
    return len(encode_gsm7(text))


def units(text: str) -> int:
    return len(encode_ucs2(text)) // 2


def decode_gsm7(data: bytes) -> str:
    inverse_ext = {code: ch for ch, code in GSM7_EXTENSION.items()}
    out, escaped = [], False
    for b in data:
        if escaped:
            out.append(inverse_ext[b])
            escaped = False
        elif b == 0x1B:
            escaped = True
        else:
            out.append(GSM7_BASIC[b])
    assert not escaped
    return "".join(out)


# --- the alphabet (3GPP TS 23.038) ---------------------------------------------------------


def test_gsm7_table_positions():
    assert len(GSM7_BASIC) == 128
    expected = {0x00: "@", 0x01: "£", 0x02: "$", 0x0A: "\n", 0x0D: "\r", 0x10: "Δ", 0x11: "_",
                0x1F: "É", 0x20: " ", 0x24: "¤", 0x30: "0", 0x40: "¡", 0x41: "A", 0x5B: "Ä",
                0x5F: "§", 0x60: "¿", 0x61: "a", 0x7F: "à"}  # fmt: skip
    for code, ch in expected.items():
        assert GSM7_BASIC[code] == ch
    assert GSM7_EXTENSION == {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F,
                              "[": 0x3C, "~": 0x3D, "]": 0x3E, "|": 0x40, "€": 0x65}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("Hello, World! 123", True),
        ("€{}[]~|^\\\f", True),
        ("Ça coûte 5€", False),  # û is not in the alphabet
        ("Δ_É¿àÑ§", True),
        ("`", False),  # ASCII but not GSM
        ("\x1b", False),  # a raw ESC is not a character
        ("\t", False),
        ("你好", False),
        ("hi" + EMOJI, False),
    ],
)
def test_is_gsm7(text, expected):
    assert is_gsm7(text) is expected


def test_encode_gsm7():
    assert encode_gsm7("Hello") == b"Hello"
    assert encode_gsm7("@$_\n") == b"\x00\x02\x11\x0a"
    assert encode_gsm7("5€[x]") == b"5\x1b\x65\x1b\x3cx\x1b\x3e"
    with pytest.raises(ValueError):
        encode_gsm7("你好")


def test_encode_ucs2():
    assert encode_ucs2("中A") == b"\x4e\x2d\x00\x41"
    assert encode_ucs2(EMOJI) == b"\xd8\x3d\xde\x00"


def test_lone_surrogate_is_refused():
    text = "优惠\ud83d"
    for f in (segment, fee_num, encode_ucs2):
        with pytest.raises(MessageInvalid):
            f(text)


# --- boundaries ----------------------------------------------------------------------------


def test_empty_is_one_part():
    assert segment("") == Segmentation("gsm7", ("",))
    assert fee_num("") == 1


@pytest.mark.parametrize(
    ("text", "encoding", "count"),
    [
        (ZH * 70, "ucs2", 1),
        (ZH * 71, "ucs2", 2),
        (ZH * 134, "ucs2", 2),
        (ZH * 135, "ucs2", 3),
        ("a" * 160, "gsm7", 1),
        ("a" * 161, "gsm7", 2),
        ("a" * 306, "gsm7", 2),
        ("a" * 307, "gsm7", 3),
        ("€" * 80, "gsm7", 1),  # 160 septets
        ("€" * 80 + "a", "gsm7", 2),
        ("a" * 159 + "中", "ucs2", 3),  # one non-GSM char switches the whole text to UCS-2
        (EMOJI * 35, "ucs2", 1),  # 70 units
        (EMOJI * 36, "ucs2", 2),
    ],
)
def test_boundaries(text, encoding, count):
    seg = segment(text)
    assert seg.encoding == encoding
    assert seg.fee_num == len(seg.parts) == count
    assert fee_num(text) == count


def test_ucs2_parts_are_67_units():
    assert segment(ZH * 135).parts == (ZH * 67, ZH * 67, ZH)


def test_gsm7_parts_are_153_septets():
    assert segment("a" * 307).parts == ("a" * 153, "a" * 153, "a")


def test_extension_char_not_split_at_boundary():
    text = "a" * 152 + "€" + "b" * 10  # the escape would be septet 153, its code septet 154
    seg = segment(text)
    assert seg.parts == ("a" * 152, "€" + "b" * 10)
    assert fee_num(text) == 2
    # Without the extension character the same length splits at 153.
    assert segment("a" * 152 + "e" + "b" * 10).parts == ("a" * 152 + "e", "b" * 10)


def test_extension_pushes_to_an_extra_part():
    text = "€" * 77 + "a" * 152  # 154 + 152 septets; 153 per part, € never split
    assert [septets(p) for p in segment(text).parts] == [152, 153, 1]
    assert fee_num(text) == 3


def test_emoji_not_split_at_ucs2_boundary():
    text = ZH * 66 + EMOJI + ZH * 10
    seg = segment(text)
    assert seg.parts == (ZH * 66, EMOJI + ZH * 10)
    assert fee_num(text) == 2


# --- properties ----------------------------------------------------------------------------

_MIXED = list(GSM7_BASIC.replace("\x1b", "")) + list(GSM7_EXTENSION) + list("中文优惠，。【】😀🎉ç`")
texts = st.one_of(
    st.text(alphabet=st.sampled_from(_MIXED), max_size=700),
    # Dense in 2-unit characters, long enough to be multipart, so boundaries land on them.
    st.text(alphabet=st.sampled_from(list("ab€[")), min_size=100, max_size=700),
    st.text(alphabet=st.sampled_from(list("中，😀")), min_size=40, max_size=400),
    st.text(max_size=400),
)


@given(texts)
def test_parts_rebuild_the_text(text):
    assert "".join(segment(text).parts) == text


@given(texts)
def test_parts_within_limits_and_greedy(text):
    seg = segment(text)
    size = septets if seg.encoding == "gsm7" else units
    single, multi = (160, 153) if seg.encoding == "gsm7" else (70, 67)
    if len(seg.parts) == 1:
        assert size(seg.parts[0]) <= single
        return
    assert size(text) > single
    for i, part in enumerate(seg.parts):
        assert 0 < size(part) <= multi
        if i + 1 < len(seg.parts):  # no part could have taken the next character
            assert size(part + seg.parts[i + 1][0]) > multi


@given(texts)
def test_fee_num_matches_segment(text):
    assert fee_num(text) == segment(text).fee_num == len(segment(text).parts)


@given(texts)
def test_encoding_choice(text):
    assert (segment(text).encoding == "gsm7") == is_gsm7(text)


@given(texts)
def test_encodings_round_trip(text):
    data = encode_ucs2(text)
    assert data.decode("utf-16-be") == text
    if is_gsm7(text):
        assert decode_gsm7(encode_gsm7(text)) == text


@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=490,
               max_size=490))  # fmt: skip
def test_490_chinese_chars_is_at_most_8_parts(text):
    assert fee_num(text) <= 8
    assert len(segment(text).parts) <= 8
