"""What an operator may set, ruled once for every way in: ``smsgate admin …`` and the console's
JSON API call these same functions, so that the two accept and refuse alike.

Pure functions: each takes what the operator typed and returns the value to keep, or raises the
service's error (``domain.errors``; :class:`~smsgate.domain.errors.BadRequest`, SMN.0024, unless
said otherwise).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from smsgate.domain import errors, phone, signatures
from smsgate.domain.records import SignType
from smsgate.domain.window import SendWindow

PROJECT_NAME_MAX = 64
_GRANT = re.compile(r"[a-z0-9_.-]{1,32}")
DAILY_CAP_MAX = 1_000_000
WORD_MAX = 64
NOTE_MAX = 200
NUMBERS_MAX = 1000
_OPERATOR_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
OPERATOR_PASSWORD_MIN = 8

#: why a signature is rejected; the code (and the operator's note) goes to the customer in
#: the signature's ``reply``
REJECT_REASONS = {
    "NAME_MISMATCH": "The name does not match the applicant's company, app or brand.",
    "MISSING_PROOF": "Supporting documents are missing or unreadable.",
    "TRADEMARK": "The name infringes a trademark or impersonates another party.",
    "PROHIBITED": "The name contains prohibited or misleading content.",
    "OTHER": "Another reason (see the note).",
}
_SIGN_TYPES = {"promotional": SignType.PROMOTIONAL, "notification": SignType.NOTIFICATION}


# --- projects --------------------------------------------------------------------------------


def project_name(name: str) -> str:
    """A project's name, trimmed: 1 to 64 characters."""
    name = name.strip()
    if not 1 <= len(name) <= PROJECT_NAME_MAX:
        raise errors.BadRequest(f"Parameter: a project name has 1 to {PROJECT_NAME_MAX} characters.")
    return name


def grants(values: Iterable[str]) -> list[str]:
    """A project's grants (``promotion``…), trimmed, each once, sorted."""
    cleaned = sorted({g.strip() for g in values if g.strip()})
    if any(not _GRANT.fullmatch(g) for g in cleaned):
        raise errors.BadRequest("Parameter: a grant is 1 to 32 lower-case letters, digits, '_', '.' or '-'.")
    return cleaned


def daily_cap(value: int) -> int:
    """Promotional SMS per number per day: 1 to 1,000,000."""
    if not 1 <= value <= DAILY_CAP_MAX:
        raise errors.BadRequest(f"Parameter: a daily cap is 1 to {DAILY_CAP_MAX} messages per number.")
    return value


def send_window(text: str) -> str:
    """A sending window, ``HH:MM-HH:MM`` local time, as it is kept (``08:00-20:00``)."""
    return str(SendWindow.parse(text))


# --- signatures ------------------------------------------------------------------------------


def sign_name(name: str) -> str:
    """2 to 8 Chinese characters, letters or digits (SMN.0081)."""
    return signatures.validate_name(name)


def sign_type(kind: str) -> SignType:
    """``promotional`` or ``notification``."""
    found = _SIGN_TYPES.get(kind)
    if found is None:
        raise errors.BadRequest("Parameter: a signature's type is promotional or notification.")
    return found


def rejection_note(note: str) -> str:
    """What the operator tells the customer about a rejection, trimmed: at most 200
    characters."""
    note = note.strip()
    if len(note) > NOTE_MAX:
        raise errors.BadRequest(f"Parameter: the note has at most {NOTE_MAX} characters.")
    return note


def rejection(reason_code: str, note: str) -> str:
    """A rejection's ``reply``: one of :data:`REJECT_REASONS`, and the note if any."""
    if reason_code not in REJECT_REASONS:
        raise errors.BadRequest(f"Parameter: reason_code is one of {', '.join(REJECT_REASONS)}.")
    note = rejection_note(note)
    return f"{reason_code}: {note}" if note else reason_code


# --- the lexicon and opt-outs ----------------------------------------------------------------


def _some_words(values: Iterable[str]) -> list[str]:
    cleaned = sorted({w.strip() for w in values if w.strip()})
    if not cleaned:
        raise errors.BadRequest("Parameter: give at least one word.")
    return cleaned


def words_to_add(values: Iterable[str]) -> list[str]:
    """Sensitive words for a project's own lexicon: trimmed, each once, at most 64 characters."""
    cleaned = _some_words(values)
    if any(len(w) > WORD_MAX for w in cleaned):
        raise errors.BadRequest(f"Parameter: a word has at most {WORD_MAX} characters.")
    return cleaned


def words_to_remove(values: Iterable[str]) -> list[str]:
    """Words to take out of a project's lexicon: trimmed, each once (of any length: a word
    kept before the limit can still be removed)."""
    return _some_words(values)


def number(value: str) -> str:
    """A phone number in E.164 (SMN.0012 when it is not one)."""
    try:
        return phone.normalize(value).e164
    except errors.EndpointInvalid:
        raise errors.EndpointInvalid(f"Parameter: {value!r} is not a valid phone number.") from None


def numbers(values: Iterable[str]) -> list[str]:
    """Phone numbers (to opt out), each in E.164 and once: 1 to 1,000 of them, every one valid
    (SMN.0012 names the first that is not; then none is taken)."""
    found = {number(v) for v in values if v.strip()}
    if not 1 <= len(found) <= NUMBERS_MAX:
        raise errors.BadRequest(f"Parameter: give 1 to {NUMBERS_MAX} numbers.")
    return sorted(found)


# --- console operators -----------------------------------------------------------------------


def is_operator_name(name: str) -> bool:
    return _OPERATOR_NAME.fullmatch(name) is not None


def operator_name(name: str) -> str:
    """1 to 64 letters, digits, ``.``, ``_``, ``@`` or ``-``."""
    if not is_operator_name(name):
        raise errors.BadRequest(
            "Parameter: an operator name is 1 to 64 letters, digits, '.', '_', '@' or '-'.")
    return name


def operator_password(password: str) -> str:
    """At least 8 characters."""
    if len(password) < OPERATOR_PASSWORD_MIN:
        raise errors.BadRequest(
            f"Parameter: an operator's password has at least {OPERATOR_PASSWORD_MIN} characters.")
    return password
