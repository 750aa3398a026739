"""The JSON bodies of callback events (SPEC §4), and how they are signed."""

from __future__ import annotations

import functools
import hashlib
import hmac
from datetime import UTC, datetime

import msgspec

from smsgate.domain.states import MessageState
from smsgate.store.delivery import Final

SIGNATURE_HEADER = "X-Smsgate-Signature"


class StatusEvent(msgspec.Struct):
    event_type: str
    sign_id: str
    message_id: str
    status: int  # 1 delivered, 2 failed
    status_desc: str
    fee_num: int
    extend_code: str | None
    nation_code: str
    mobile: str
    submit_time: str | None
    deliver_time: str | None


class ReplyEvent(msgspec.Struct):
    event_type: str
    sign_id: str | None
    nation_code: str
    mobile: str
    reply: str
    deliver_time: str


def iso(ms: int | None) -> str | None:
    """Epoch milliseconds as ``2016-08-02T08:10:00Z``."""
    if ms is None:
        return None
    return _iso_seconds(ms // 1000)


@functools.lru_cache(maxsize=4096)
def _iso_seconds(seconds: int) -> str:
    """(Receipts come in bursts of the same few seconds: each is formatted once, not twice per
    event, ~5 µs each.)"""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_event(final: Final) -> tuple[str, bytes]:
    ok = final.state == MessageState.DELIVERED
    event = StatusEvent(
        event_type="sms_success_event" if ok else "sms_fail_event",
        sign_id=final.sign_id,
        message_id=final.message_id,
        status=1 if ok else 2,
        status_desc=final.status_desc,
        fee_num=final.fee_num,
        extend_code=final.extend_code,
        nation_code=final.nation_code,
        mobile=final.e164.removeprefix(final.nation_code),
        submit_time=iso(final.submitted_at),
        deliver_time=iso(final.done_at),
    )
    return event.event_type, msgspec.json.encode(event)


def reply_event(sign_id: str | None, nation_code: str, e164: str, text: str, at: int) -> bytes:
    event = ReplyEvent("sms_reply_event", sign_id, nation_code, e164.removeprefix(nation_code), text, iso(at) or "")
    return msgspec.json.encode(event)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``: the timestamp is
    signed too, so a receiver can refuse replays (see the README for how to verify)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes) -> bool:
    """What a receiver does (and what our tests do)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if "t" not in parts or "v1" not in parts or not parts["t"].isdigit():
        return False
    return hmac.compare_digest(signature(secret, int(parts["t"]), body), header)
