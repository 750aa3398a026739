"""Which part a receipt is about: the id rules by format, and the order of the steps."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.domain.carrier_ids import (Candidate, Choice, Reading, Verdict, choose, id_key, lookup_keys,
                                        reading)

EXACT, SPELLING, BASE = Reading.EXACT, Reading.SPELLING, Reading.BASE


@pytest.mark.parametrize(
    ("carrier_id", "key"),
    [("0A1B2C", "a1b2c"), ("000a1b2c", "a1b2c"), (" 0x0A1B2C\0", "a1b2c"), ("662316", "662316"),
     ("0", "0"), ("000", "0"), ("10", "10"), ("3F2504E0-4F89-11D3", "3f2504e0-4f89-11d3"),
     ("00msg-1", "msg-1"), ("0xyz", "xyz"), ("", ""), ("  ", "")],
)
def test_one_key_per_id(carrier_id: str, key: str) -> None:
    assert id_key(carrier_id) == key


@pytest.mark.parametrize(
    ("receipt_id", "part_id", "auto", "hex_", "decimal", "string"),
    [
        ("10", "10", EXACT, EXACT, EXACT, EXACT),
        (" 10\0", "10", EXACT, EXACT, EXACT, EXACT),  # blanks and a C string's NUL
        ("0a", "0A", SPELLING, EXACT, None, None),  # case
        ("00000a1b2c", "A1B2C", SPELLING, EXACT, None, None),  # zeros and case
        ("0x0A1B2C", "a1b2c", SPELLING, EXACT, None, None),
        ("0010", "10", SPELLING, EXACT, EXACT, None),  # zeros before decimal digits
        ("a", "10", BASE, None, None, None),  # hex receipt, decimal part: ten
        ("10", "a", BASE, None, None, None),  # decimal receipt, hex part: ten
        ("10", "16", BASE, None, None, None),  # "10" read as hex is sixteen
        ("77359401", "2000000001", BASE, None, None, None),
        ("10", "11", None, None, None, None),
        ("msg-1", "MSG-1", SPELLING, EXACT, None, None),  # not numbers: case still
        ("abc-1", "abc-2", None, None, None, None),
        ("", "", None, None, None, None),
    ],
)
def test_how_a_receipts_id_reads_as_a_parts(receipt_id, part_id, auto, hex_, decimal, string) -> None:
    got = [reading(receipt_id, part_id, f) for f in ("auto", "hex", "decimal", "string")]
    assert got == [auto, hex_, decimal, string]


def test_lookup_keys_by_format() -> None:
    assert lookup_keys("0A", "auto") == ("a", "10")  # hex "0A" is ten: a part spelt "10"
    assert lookup_keys("10", "auto") == ("10", "16", "a")  # sixteen in decimal, ten in hex
    assert lookup_keys("0x10", "auto") == ("10", "16")  # 0x: hex only
    assert lookup_keys("msg-1", "auto") == ("msg-1",)
    assert [lookup_keys("10", f) for f in ("hex", "decimal", "string")] == [("10",)] * 3
    assert lookup_keys(" ", "auto") == ()


_IDS = st.one_of(
    st.integers(0, 2**70).map(lambda n: format(n, "x")),
    st.integers(0, 2**70).map(lambda n: format(n, "X")),
    st.integers(0, 2**70).map(str),
    st.tuples(st.integers(0, 4), st.integers(0, 2**40)).map(lambda t: "0" * t[0] + format(t[1], "X")),
    st.integers(0, 2**40).map(lambda n: f"0x{n:x}"),
    st.text("0123456789abcdefABCDEF-x ", max_size=12),
)


@given(_IDS, _IDS, st.sampled_from(["auto", "hex", "decimal", "string"]))
def test_a_part_that_reads_as_the_receipt_is_found_under_one_of_its_lookup_keys(receipt_id, part_id, fmt) -> None:
    if reading(receipt_id, part_id, fmt) is not None:
        assert id_key(part_id) in lookup_keys(receipt_id, fmt)


@given(st.integers(0, 2**64), st.integers(0, 4), st.booleans(), st.booleans())
def test_every_hex_spelling_of_a_number_is_the_same_id_in_hex(n, zeros, upper, prefix) -> None:
    spelt = ("0x" if prefix else "") + "0" * zeros + format(n, "X" if upper else "x")
    assert reading(spelt, format(n, "x"), "hex") is EXACT
    assert reading(spelt, format(n, "X"), "auto") in (EXACT, SPELLING)
    assert reading(str(n), format(n, "X"), "auto") in (EXACT, SPELLING, BASE)


@given(st.integers(0, 2**64), st.integers(0, 2**64))
def test_different_numbers_are_never_the_same_id(a, b) -> None:
    if a != b:
        assert reading(format(a, "x"), format(b, "X"), "hex") is None
        assert reading(str(a), "00" + str(b), "decimal") is None
        assert reading(format(a, "x"), format(b, "X"), "auto") in (None, BASE)


def part(n: int, carrier_id: str, at: int = 0, open: bool = True) -> Candidate:
    return Candidate((f"m{n}", 1), carrier_id, at, open)


def test_the_id_spelt_exactly_wins_over_every_other_reading() -> None:
    # a hex counter: "a" (ten) and "10" (sixteen) are both out
    parts = [part(10, "a"), part(16, "10")]
    assert choose("a", "auto", parts, final=False) == Choice(Verdict.CREDIT, ("m10", 1))
    assert choose("10", "auto", parts, final=True) == Choice(Verdict.CREDIT, ("m16", 1))


def test_a_reused_id_names_the_newest_open_part_and_never_a_settled_one() -> None:
    old, older, new = part(1, "5", at=100), part(2, "5", at=50, open=False), part(3, "5", at=200)
    assert choose("5", "hex", [old, new, older], final=False).part == ("m3", 1)
    assert choose("5", "hex", [older], final=False).verdict is Verdict.WAIT
    assert choose("5", "hex", [older], final=True).verdict is Verdict.DUPLICATE


def test_another_spelling_counts_only_when_it_names_one_open_part() -> None:
    assert choose("0a1b2c", "auto", [part(1, "A1B2C")], final=False).part == ("m1", 1)
    two = [part(1, "A1B2C"), part(2, "00A1B2C")]
    assert choose("0a1b2c", "auto", two, final=False).verdict is Verdict.WAIT
    assert choose("0a1b2c", "auto", two, final=True) == Choice(Verdict.AMBIGUOUS, parts=(("m1", 1), ("m2", 1)))
    assert choose("0a1b2c", "string", [part(1, "A1B2C")], final=True).verdict is Verdict.UNKNOWN


def test_the_other_base_is_read_only_after_the_wait_and_only_if_it_names_one_open_part() -> None:
    assert choose("a", "auto", [part(10, "10")], final=False).verdict is Verdict.WAIT
    assert choose("a", "auto", [part(10, "10")], final=True).part == ("m10", 1)
    # "10": sixteen in decimal, or ten in hex
    both = [part(16, "16"), part(10, "a")]
    assert choose("10", "auto", both, final=True).verdict is Verdict.AMBIGUOUS
    assert choose("10", "hex", both, final=True).verdict is Verdict.UNKNOWN
    # a repeated receipt is not read as another part's id
    assert choose("10", "auto", [part(1, "10", open=False), part(16, "16")], final=True).verdict is Verdict.DUPLICATE
