import phonenumbers
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from smsgate.domain.errors import EndpointInvalid
from smsgate.domain.phone import Number, normalize

MAINLAND = Number("+8613812345678", "+86", "13812345678")


@pytest.mark.parametrize(
    "endpoint",
    [
        "13812345678",
        "8613812345678",
        "+8613812345678",
        "008613812345678",
        "  +8613812345678\t",
        "\n13812345678 ",
    ],
)
def test_mainland_forms(endpoint):
    assert normalize(endpoint) == MAINLAND


@pytest.mark.parametrize(
    "national", ["15012345678", "18612345678", "19912345678", "17012345678", "16612345678"]
)
def test_mainland_mobile_ranges(national):
    assert normalize(national) == Number("+86" + national, "+86", national)


@pytest.mark.parametrize(
    "endpoint",
    [
        "",
        "   ",
        "+",
        "++8613812345678",
        "+86 13812345678",  # inner space
        "138-1234-5678",  # dashes
        "138 1234 5678",
        "１３８１２３４５６７８",  # full-width digits
        "١٣٨١٢٣٤٥٦٧٨",  # Arabic-Indic digits
        "1381234567",  # 10 digits
        "138123456789",  # 12 digits
        "12345678901",  # 11 digits, not a mobile range
        "14012345678",  # 140 is not allocated to mobiles
        "01012345678",  # Beijing fixed line
        "+8601012345678",
        "+861012345678",
        "+86138123456789",
        "86013812345678",
        "0086138123456789",
        "+08613812345678",
        "13812345678x",
        "tel:13812345678",
        "447911123456",  # international without + / 00
        "85251234567",
    ],
)
def test_invalid(endpoint):
    with pytest.raises(EndpointInvalid):
        normalize(endpoint)


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("+447911123456", Number("+447911123456", "+44", "7911123456")),  # UK mobile
        ("00447911123456", Number("+447911123456", "+44", "7911123456")),
        (" +85251234567 ", Number("+85251234567", "+852", "51234567")),  # HK mobile
        ("+6591234567", Number("+6591234567", "+65", "91234567")),
        ("+12025550123", Number("+12025550123", "+1", "2025550123")),  # US: fixed-line-or-mobile
        ("+819012345678", Number("+819012345678", "+81", "9012345678")),
    ],
)
def test_international_valid(endpoint, expected):
    assert normalize(endpoint) == expected


@pytest.mark.parametrize(
    "endpoint",
    [
        "+442071838750",  # UK fixed line
        "+85221234567",  # HK fixed line
        "+390612345678",  # Italy fixed line
        "+1202555012",  # too short
        "+9991234567",  # no such country code
        "+44791112345",  # UK mobile, one digit short: possible-looking but invalid
        "0044 7911123456",
        "+" + "4" * 16,  # longer than E.164 allows
        "00" + "4" * 16,
    ],
)
def test_international_invalid(endpoint):
    with pytest.raises(EndpointInvalid):
        normalize(endpoint)


def test_masked():
    assert MAINLAND.masked == "138****5678"
    uk = normalize("+447911123456")
    assert uk.masked.count("*") >= 4
    assert len(uk.masked) == len(uk.national)
    assert uk.national not in uk.masked


# --- properties ---------------------------------------------------------------------------

mainland_nationals = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)

_MOBILE_EXAMPLES = sorted(
    phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)
    for region in phonenumbers.SUPPORTED_REGIONS
    for n in [phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)]
    if n is not None
)


def _mainland_or_skip(national: str) -> Number:
    try:
        return normalize(national)
    except EndpointInvalid:
        assume(False)


@given(mainland_nationals)
def test_mainland_prefix_forms_agree(national):
    number = _mainland_or_skip(national)
    for form in ("86" + national, "+86" + national, "0086" + national, f" +86{national} "):
        assert normalize(form) == number
    assert number.national == national
    assert number.e164 == "+86" + national


@given(st.one_of(mainland_nationals, st.sampled_from(_MOBILE_EXAMPLES)))
def test_idempotent_on_e164(endpoint):
    try:
        number = normalize(endpoint)
    except EndpointInvalid:
        assume(False)
    assert normalize(number.e164) == number
    assert number.e164 == number.nation_code + number.national


@given(st.sampled_from(_MOBILE_EXAMPLES))
def test_every_region_example_mobile_is_accepted(e164):
    # Mainland and international paths together accept the library's example mobile numbers.
    assert normalize(e164).e164 == e164


@given(mainland_nationals)
def test_mainland_fast_path_agrees_with_phonenumbers(national):
    parsed = phonenumbers.parse("+86" + national, None)
    expected = phonenumbers.is_valid_number(parsed) and phonenumbers.number_type(parsed) in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )
    try:
        normalize(national)
        accepted = True
    except EndpointInvalid:
        accepted = False
    assert accepted == expected


@given(
    st.one_of(
        st.text(),
        st.text(alphabet="+0123456789 -\t"),
        st.from_regex(r"\+?[0-9]{0,20}", fullmatch=True),
    )
)
def test_junk_only_raises_endpoint_invalid(endpoint):
    try:
        number = normalize(endpoint)
    except EndpointInvalid:
        return
    digits = number.e164[1:]
    assert number.e164[0] == "+" and digits.isascii() and digits.isdigit()
    assert len(digits) <= 15
