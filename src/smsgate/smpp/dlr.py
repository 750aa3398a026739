"""Delivery receipts: recognising them and reading them.

Carriers disagree on almost everything in a receipt: TLVs or text or both, field order, key
case, date width (10 or 12 digits), and the spelling of the message id.  Parsing here is
tolerant; which part a receipt's id names is decided by :mod:`smsgate.domain.carrier_ids`, by
the channel's ``receipt_id_format``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from smsgate.domain.carrier_ids import clean, id_key
from smsgate.smpp.pdu import CommandId, Pdu, Tag

__all__ = ["STATS", "Receipt", "is_receipt", "normalize_id", "parse_receipt", "receipt_text"]

STATS = ("DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD", "ENROUTE")
_NOT_FINAL = frozenset({"ENROUTE", "ACCEPTD"})
# message_state TLV values (SMPP 3.4 §5.2.28) to receipt-text stat words (Appendix B).
_STATE_STAT = {1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV",
               6: "ACCEPTD", 7: "UNKNOWN", 8: "REJECTD"}  # fmt: skip
_STAT_PREFIXES = (("UNDELIV", "UNDELIV"), ("DELIV", "DELIVRD"), ("EXPIR", "EXPIRED"),
                  ("DELET", "DELETED"), ("ACCEPT", "ACCEPTD"), ("REJECT", "REJECTD"),
                  ("ENROUT", "ENROUTE"))  # fmt: skip
_ESM_TYPE_MASK = 0x3C
_ESM_RECEIPT = 0x04  # SMSC delivery receipt
_ESM_INTERMEDIATE = 0x20  # intermediate delivery notification: a receipt too, never an MO
_KEY = re.compile(r"(?<!\S)(id|sub|dlvrd|submit[ _]?date|done[ _]?date|stat|err|text)\s*:", re.I)
_DATE = re.compile(r"\d{10}(?:\d{2})?")
# SMPP 3.4 Appendix B exactly as most SMSCs write it: every field present, in order, one token
# each.  Read with one match; anything else goes through the general reader (_parse_text).
_APPENDIX_B = re.compile(
    r"id:(?P<id>\S+) sub:(?P<sub>\S+) dlvrd:(?P<dlvrd>\S+) submit date:(?P<submit>\S+)"
    r" done date:(?P<done>\S+) stat:(?P<stat>\S+) err:(?P<err>\S+) text:(?P<text>.*)",
    re.I | re.S)
_APPENDIX_B_KEYS = (("id", "id"), ("sub", "sub"), ("dlvrd", "dlvrd"), ("submit date", "submit"),
                    ("done date", "done"), ("stat", "stat"), ("err", "err"))


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a receipt says, normalised: ``message_id`` by :func:`normalize_id`, ``stat`` one of
    STATS, dates as the carrier's YYMMDDhhmm[ss] digits (None if absent or malformed).
    ``raw_id`` is the id as the carrier spelt it (blanks around it dropped): parts are matched
    by that spelling first."""

    message_id: str
    stat: str
    err: str | None = None
    submit_date: str | None = None
    done_date: str | None = None
    text: str | None = None
    raw_id: str = field(default="", compare=False)

    @property
    def delivered(self) -> bool:
        return self.stat == "DELIVRD"

    @property
    def final(self) -> bool:
        """False for ENROUTE/ACCEPTD, which carriers send before the final outcome."""
        return self.stat not in _NOT_FINAL


# --- ids ---------------------------------------------------------------------------------------


def normalize_id(carrier_id: str) -> str:
    """A stable display form of an id: lower case, no ``0x``, no leading zeros ("" for an
    empty id).  For display and logs: matching goes by :mod:`smsgate.domain.carrier_ids`."""
    return id_key(carrier_id)


# --- receipts ------------------------------------------------------------------------------------


def is_receipt(pdu: Pdu) -> bool:
    """True for a deliver_sm that reports on a message we sent, rather than an MO."""
    if pdu.command_id != CommandId.DELIVER_SM:
        return False
    kind = int(pdu.fields.get("esm_class", 0)) & _ESM_TYPE_MASK  # type: ignore[call-overload]
    return kind in (_ESM_RECEIPT, _ESM_INTERMEDIATE) or Tag.RECEIPTED_MESSAGE_ID in pdu.tlvs


def parse_receipt(pdu: Pdu) -> Receipt:
    """Read a receipt from its TLVs and/or its text; TLVs win where both speak.

    Raises ValueError when no message id can be found at all.
    """
    text = _parse_text(_receipt_body(pdu))
    raw_id = pdu.tlv_str(Tag.RECEIPTED_MESSAGE_ID) or text.get("id")
    if not raw_id or not normalize_id(raw_id):
        raise ValueError("delivery receipt without a message id")
    state = pdu.tlv_int(Tag.MESSAGE_STATE)
    stat = _STATE_STAT.get(state, "UNKNOWN") if state is not None else _stat(text.get("stat"))
    return Receipt(
        message_id=normalize_id(raw_id),
        raw_id=clean(raw_id),
        stat=stat,
        err=text.get("err") or _network_error(pdu),
        submit_date=_date(text.get("submit date")),
        done_date=_date(text.get("done date")),
        text=text.get("text"),
    )


def _receipt_body(pdu: Pdu) -> str:
    raw = pdu.fields.get("short_message") or pdu.tlvs.get(Tag.MESSAGE_PAYLOAD) or b""
    codec = "utf-16-be" if pdu.fields.get("data_coding") == 0x08 else "latin-1"
    return bytes(raw).decode(codec, errors="replace")  # type: ignore[arg-type]


def _parse_text(body: str) -> dict[str, str]:
    """``key:value`` pairs of a receipt text, keys lower-cased with one space ("submit date").

    ``text:`` is free-form and may itself contain "stat:" and the like; it runs to the end
    unless a key not yet seen follows it (formats that put text before other fields).
    """
    plain = _APPENDIX_B.fullmatch(body)
    if plain is not None:  # the common case: what the general loop below would read, at a
        found = {key: plain[group] for key, group in _APPENDIX_B_KEYS}  # fifth of the cost
        found["text"] = plain["text"].strip()
        return found
    out: dict[str, str] = {}
    matches = list(_KEY.finditer(body))
    i = 0
    while i < len(matches):
        m, key = matches[i], _key(matches[i])
        j = i + 1
        if key == "text":
            while j < len(matches) and _key(matches[j]) in out:
                j += 1
        end = matches[j].start() if j < len(matches) else len(body)
        value = body[m.end():end].strip()
        if key not in out and (value or key == "text"):
            out[key] = value
        i = j
    return out


def _key(match: re.Match[str]) -> str:
    word = match.group(1).lower()
    return word[:-4].rstrip(" _") + " date" if word.endswith("date") else word


def _stat(value: str | None) -> str:
    words = (value or "").split()
    word = words[0].upper() if words else ""
    if word.isdigit():
        return _STATE_STAT.get(int(word), "UNKNOWN")
    for prefix, stat in _STAT_PREFIXES:
        if word.startswith(prefix):
            return stat
    return "UNKNOWN"


def _date(value: str | None) -> str | None:
    return value if value and _DATE.fullmatch(value) else None


def _network_error(pdu: Pdu) -> str | None:
    """network_error_code (§5.3.2.31): network type octet + 2-octet error, shown as 3 digits."""
    value = pdu.tlvs.get(Tag.NETWORK_ERROR_CODE)
    if value is None or len(value) != 3:
        return None
    return f"{int.from_bytes(value[1:], 'big'):03d}"


def receipt_text(message_id: str, stat: str, err: str = "000", *, submit: datetime, done: datetime,
                 text: str = "") -> bytes:
    """The SMPP 3.4 Appendix B receipt text, for the simulator: ASCII, text cut to 20 chars."""
    if stat not in STATS:
        raise ValueError(f"stat must be one of {STATS}, not {stat!r}")
    dlvrd = "001" if stat == "DELIVRD" else "000"
    line = (f"id:{message_id} sub:001 dlvrd:{dlvrd} submit date:{_minute(submit)} "
            f"done date:{_minute(done)} stat:{stat} err:{err} text:{text[:20]}")
    return line.encode("ascii", errors="replace")


def _minute(at: datetime) -> str:
    """YYMMDDhhmm (strftime took a tenth of the simulator's time per receipt)."""
    return f"{at.year % 100:02d}{at.month:02d}{at.day:02d}{at.hour:02d}{at.minute:02d}"
