"""Recipient number normalization.

Every promotional message goes through :func:`normalize`, so the common case (a mainland mobile
number) must cost about a microsecond.  ``phonenumbers.parse`` costs tens of microseconds, so the
mainland path is hand-written: strip the ``+86`` / ``86`` / ``0086`` prefix and match the national
number against the *library's own* CN mobile pattern (read from its metadata and compiled once
here), so new prefix allocations arrive with ``phonenumbers`` updates, not with edits to this file.
International numbers are rarer and varied; they go to ``phonenumbers`` entirely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberType

from smsgate.domain.errors import EndpointInvalid

__all__ = ["Number", "normalize"]

_CN_MOBILE_PATTERN = PhoneMetadata.metadata_for_region("CN").mobile.national_number_pattern
# re.ASCII: the metadata's ``\d`` means 0-9, not any Unicode digit.
_cn_mobile = re.compile(_CN_MOBILE_PATTERN, re.ASCII).fullmatch

# E.164 (ITU-T) caps a number at 15 digits, country code included.
_E164_MAX_DIGITS = 15

# Recipients that can receive an SMS.  is_valid_number (not is_possible_number) is required
# because is_possible_number only checks the length: it would accept fixed-line numbers and
# unallocated ranges, and every such send is paid for and can never be delivered.  number_type
# is only meaningful for a valid number anyway (it answers UNKNOWN otherwise).
_SMS_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
_E164 = phonenumbers.PhoneNumberFormat.E164


@dataclass(frozen=True, slots=True)
class Number:
    """A recipient number, normalized.  Equal numbers compare (and hash) equal."""

    e164: str  # "+8613812345678"
    nation_code: str  # "+86"
    national: str  # "13812345678"

    @property
    def masked(self) -> str:
        """The national number with its middle hidden, for logs: ``138****5678``.

        At least four digits are always hidden, so short foreign numbers stay masked too.
        """
        n = len(self.national)
        hidden = max(4, n - 7)
        shown = max(0, n - hidden)
        head = shown // 2
        tail = shown - head
        return self.national[:head] + "*" * (n - head - tail) + self.national[n - tail :]


def normalize(endpoint: str) -> Number:
    """Return the recipient of ``endpoint``, or raise :class:`EndpointInvalid`.

    Accepted, after stripping surrounding whitespace, and nothing but ``+?[0-9]+``:

    * mainland mobile numbers: 11 digits, bare or prefixed ``86``, ``+86`` or ``0086``; any
      ``+86`` number takes this path (and so must be a mainland mobile);
    * international numbers with ``+`` or ``00`` and a country code, when ``phonenumbers`` finds
      them valid and of type mobile (or fixed-line-or-mobile, where a country's plans overlap).

    A number without ``+`` / ``00`` that is not a mainland mobile is invalid (no default region
    other than China).  At most 15 digits after the international prefix (E.164).
    """
    if not isinstance(endpoint, str):
        raise EndpointInvalid()
    s = endpoint.strip()
    if s[:1] == "+":
        digits = s[1:]
        plus = True
    else:
        digits = s
        plus = False
    # isascii() as well: str.isdigit() also accepts "١", "²", full-width digits...
    if not (digits.isascii() and digits.isdigit()):
        raise EndpointInvalid()

    if plus:
        if digits[:2] == "86":
            return _mainland(digits[2:])
    elif len(digits) == 11:
        return _mainland(digits)
    elif digits[:2] == "86":
        return _mainland(digits[2:])
    elif digits[:4] == "0086":
        return _mainland(digits[4:])
    elif digits[:2] == "00":
        digits = digits[2:]
    else:
        raise EndpointInvalid()
    return _international(digits)


def _mainland(national: str) -> Number:
    if len(national) != 11 or _cn_mobile(national) is None:
        raise EndpointInvalid()
    return Number("+86" + national, "+86", national)


def _international(digits: str) -> Number:
    if len(digits) > _E164_MAX_DIGITS:
        raise EndpointInvalid()
    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        raise EndpointInvalid() from None
    if not phonenumbers.is_valid_number(parsed):
        raise EndpointInvalid()
    if phonenumbers.number_type(parsed) not in _SMS_TYPES:
        raise EndpointInvalid()
    e164 = phonenumbers.format_number(parsed, _E164)
    return Number(
        e164, "+" + str(parsed.country_code), phonenumbers.national_significant_number(parsed)
    )
