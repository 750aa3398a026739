"""A message's story for the console: the store's record of it (``store.history``) told as a
time-ordered list of events, with the carrier its number belongs to."""

from __future__ import annotations

from smsgate.dispatch.router import CARRIER_PREFIXES
from smsgate.store.db import Db
from smsgate.store.history import FINAL, message_history

_CARRIER_OF = {f"+86{p}": name for name, prefixes in CARRIER_PREFIXES.items() for p in prefixes}


def carrier_of(e164: str) -> str:
    """cn-mobile / cn-unicom / cn-telecom (the router's prefix groups), cn-other, or
    international."""
    if not e164.startswith("+86"):
        return "international"
    return _CARRIER_OF.get(e164[:6], "cn-other")


def history(db: Db, message_id: str, now: int) -> dict | None:
    """Everything known of one message, and its story as a time-ordered list of events."""
    found = message_history(db, message_id)
    if found is None:
        return None
    message = found["message"]
    return {
        "message": message,
        "carrier": carrier_of(message["e164"]),
        "parts": found["parts"],
        "callbacks": found["callbacks"],
        "replies": found["replies"],
        "opted_out_at": found["opted_out_at"],
        "events": _events(message, found["parts"], found["callbacks"], found["replies"], now),
    }


def _events(message: dict, parts: list[dict], callbacks: list[dict], replies: list[dict],
            now: int) -> list[dict]:
    events = [{"at": message["accepted_at"], "kind": "accepted",
               "detail": f"request {message['request_id']}"}]
    state, attempts = message["state"], message["attempts"]
    if state == "QUEUED" and message["next_attempt_at"] > now:
        if attempts:
            events.append({"at": message["next_attempt_at"], "kind": "retry scheduled",
                           "detail": f"after {attempts} attempt(s): {message['status_desc'] or ''}"})
        else:
            events.append({"at": message["next_attempt_at"], "kind": "held",
                           "detail": "outside the sending window until then"})
    elif attempts:
        events.append({"at": None, "kind": "retried",
                       "detail": f"{attempts} earlier attempt(s) failed for a passing reason"})
    if state == "SENDING":
        events.append({"at": message["lease_until"], "kind": "sending",
                       "detail": "claimed by a dispatcher (lease until then)"})
    for part in parts:
        if part["submitted_at"] is not None:
            events.append({"at": part["submitted_at"], "kind": "part submitted",
                           "detail": f"part {part['idx']}/{part['total']} on {message['channel'] or '?'},"
                                     f" carrier id {part['carrier_id']}"})
        if part["stat"] is not None:
            events.append({"at": part["done_at"], "kind": "receipt",
                           "detail": f"part {part['idx']}/{part['total']}: {part['stat']}"
                                     + (f" (err {part['err']})" if part["err"] else "")})
    if state in FINAL:
        events.append({"at": message["done_at"], "kind": state.lower(),
                       "detail": message["status_desc"] or ""})
    for callback in callbacks:
        detail = f"{callback['state']} after {callback['attempts']} attempt(s) to {callback['url']}"
        if callback["last_error"]:
            detail += f"; last error: {callback['last_error']}"
        events.append({"at": callback["created_at"], "kind": "callback", "detail": detail})
    for reply in replies:
        events.append({"at": reply["received_at"], "kind": "reply", "detail": reply["text"]})
    dated = sorted((e for e in events if e["at"] is not None), key=lambda e: e["at"])
    return dated + [e for e in events if e["at"] is None]
