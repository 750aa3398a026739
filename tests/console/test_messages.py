"""The console's test batch (the API's accept path), message search and history, and the
dashboard's figures; on SQLite and on PostgreSQL."""

from __future__ import annotations

import time

import pytest
from starlette.testclient import TestClient

from smsgate.domain.records import SignStatus, SignType
from smsgate.store.delivery import DeliveryStore, PartSubmitted, Receipt
from smsgate.store.outbox import OutboxStore
from tests.conftest import UNSUB, World
from tests.console.conftest import CSRF

TEXT = f"双十一全场五折，快来选购{UNSUB}"


@pytest.fixture
def backend(both_backends: str) -> str:
    return both_backends


def send(c: TestClient, project_id: str, sign_id: str, numbers: list[str], text: str = TEXT) -> dict:
    r = c.post(f"/console/api/projects/{project_id}/test-batch",
               json={"sign_id": sign_id, "numbers": numbers, "text": text}, headers=CSRF)
    assert r.status_code == 200, r.text
    return r.json()


def ids(batch: dict) -> list[str]:
    return [x["message_id"] for x in batch["result"] if "message_id" in x]


def deliver(world: World, message_id: str, stat: str, channel: str = "sim", parts: int = 1) -> None:
    """As if the dispatcher submitted every part and their receipts came back."""
    delivery = DeliveryStore(world.store.db)
    now = int(time.time() * 1000)
    world.store.db.execute("UPDATE messages SET state='SENDING' WHERE id=?", (message_id,))
    keys = [f"{message_id[:8]}{i}" for i in range(1, parts + 1)]
    delivery.record_parts([PartSubmitted(message_id, i, parts, channel, k, now)
                           for i, k in enumerate(keys, start=1)])
    delivery.apply_receipts([Receipt(channel, k, stat, "000", now + 1000) for k in keys], now)


def search(c: TestClient, **params: object) -> list[str]:
    r = c.get("/console/api/messages", params=params)
    assert r.status_code == 200, r.text
    return [m["id"] for m in r.json()["messages"]]


# --- the test batch --------------------------------------------------------------------------


def test_a_test_batch_is_accepted_like_an_api_batch(console: TestClient, world: World) -> None:
    world.store.add_optouts(world.project_id, world.sign_id, ["+8613900139000"])
    batch = send(console, world.project_id, world.sign_id,
                 ["13800138000", "123", "+8613800138000", "13900139000", "13700137000"])
    codes = [x.get("code") or "ok" for x in batch["result"]]
    assert codes == ["ok", "SMN.0012", "SMN.0190", "SMN.0230", "ok"]  # bad number, duplicate, opted out
    accepted = ids(batch)
    for message_id in accepted:
        stored = world.store.message(message_id)
        assert stored["state"] == "QUEUED" and stored["request_id"] == batch["request_id"]
        assert stored["text"] == f"【阿克米】{TEXT}"
    metrics = console.get("/metrics").text
    assert 'smsgate_messages_refused_total{code="SMN.0230"} 1.0' in metrics


def test_a_test_batch_meets_the_same_rules(console: TestClient, world: World) -> None:
    sensitive = send(console, world.project_id, world.sign_id, ["13800138000"], f"代开发票{UNSUB}")
    assert sensitive["result"][0]["code"] == "SMN.0227" and sensitive["result"][0]["sensitive_word"] == "代开发票"
    assert send(console, world.project_id, world.sign_id, ["13800138000"], "没有退订")["result"][0]["code"] == "SMN.0204"
    pending = world.add_sign("待审核", SignType.PROMOTIONAL, SignStatus.PENDING)
    assert send(console, world.project_id, pending, ["13800138000"])["result"][0]["code"] == "SMN.0087"
    path = f"/console/api/projects/{world.project_id}/test-batch"
    too_many = console.post(path, json={"sign_id": world.sign_id, "numbers": [str(13800000000 + i) for i in range(1000)],
                                        "text": TEXT}, headers=CSRF)
    assert (too_many.status_code, too_many.json()["code"]) == (400, "SMN.0159")
    none = console.post(path, json={"sign_id": world.sign_id, "numbers": [" "], "text": TEXT}, headers=CSRF)
    assert none.json()["code"] == "SMN.0159"
    individual, _ = world.new_project("solo", enterprise=False, grants=())
    r = console.post(f"/console/api/projects/{individual}/test-batch",
                     json={"sign_id": world.sign_id, "numbers": ["13800138000"], "text": TEXT}, headers=CSRF)
    assert (r.status_code, r.json()["code"]) == (403, "SMN.0228")
    assert world.store.count_messages() == 0


def test_the_daily_cap_applies_to_test_batches(console: TestClient, world: World) -> None:
    world.store.update_project(world.project_id, daily_cap=1)
    assert ids(send(console, world.project_id, world.sign_id, ["13800138000"]))
    again = send(console, world.project_id, world.sign_id, ["13800138000"], f"周末特惠{UNSUB}")
    assert again["result"][0]["code"] == "SMN.0057"


# --- search and history ----------------------------------------------------------------------


def test_messages_are_searched_by_number_id_sign_state_project_and_time(console: TestClient, world: World) -> None:
    first = ids(send(console, world.project_id, world.sign_id, ["13800138000", "13800138001", "13800138002"]))
    other_project, _ = world.new_project("beta")
    other_sign = world.store.create_sign(other_project, "贝塔", SignType.PROMOTIONAL)
    world.store.set_sign_status(other_project, other_sign.id, SignStatus.APPROVED)
    second = ids(send(console, other_project, other_sign.id, ["13800138000"]))
    deliver(world, first[0], "DELIVRD")

    assert search(console) == [*second, *reversed(first)]  # newest first
    assert set(search(console, number="13800138000")) == {first[0], second[0]}
    assert set(search(console, number="+8613800138000", project_id=world.project_id)) == {first[0]}
    assert search(console, message_id=first[1]) == [first[1]]
    assert search(console, sign="贝塔") == second
    assert search(console, sign=world.sign_id, state="QUEUED") == [first[2], first[1]]
    assert search(console, state="delivered") == [first[0]]
    now = int(time.time() * 1000)
    assert set(search(console, start=now - 60_000, end=now + 60_000)) == set(first + second)
    assert search(console, start=now + 60_000) == []
    assert search(console, end=now - 60_000) == []
    assert search(console, number="not a number") == []

    page = console.get("/console/api/messages", params={"limit": 2}).json()
    assert len(page["messages"]) == 2 and page["more"]
    rest = console.get("/console/api/messages", params={"limit": 2, "offset": 2}).json()
    assert len(rest["messages"]) == 2 and not rest["more"]
    assert {m["id"] for m in page["messages"] + rest["messages"]} == set(first + second)
    row = next(m for m in page["messages"] + rest["messages"] if m["id"] == first[0])
    assert (row["project_name"], row["sign_name"], row["e164"], row["channel"]) == ("acme", "阿克米", "+8613800138000", "sim")

    for params, status, code in [({"state": "LOST"}, 400, "SMN.0024"), ({"message_id": "xyz"}, 400, "SMN.0102"),
                                 ({"start": 20, "end": 10}, 400, "SMN.0114"), ({"limit": 0}, 400, "SMN.0015"),
                                 ({"start": "yesterday"}, 400, "SMN.0103")]:
        r = console.get("/console/api/messages", params=params)
        assert (r.status_code, r.json()["code"]) == (status, code), params


def test_a_delivered_message_tells_its_whole_story(console: TestClient, world: World) -> None:
    long_text = "全场五折" * 30 + UNSUB  # two UCS-2 parts
    [message_id] = ids(send(console, world.project_id, world.sign_id, ["13800138000"], long_text))
    outbox = OutboxStore(world.store.db)
    outbox.subscribe(world.project_id, [("sms_success_event", "https://hooks.example/ok")])
    deliver(world, message_id, "DELIVRD", parts=2)
    outbox.enqueue([(world.project_id, "sms_success_event", b'{"event_type":"sms_success_event"}', message_id)],
                   int(time.time() * 1000))

    h = console.get(f"/console/api/messages/{message_id}").json()
    assert h["message"]["state"] == "DELIVERED" and h["message"]["fee_num"] == 2
    assert h["carrier"] == "cn-mobile" and h["message"]["text"].startswith("【阿克米】")
    assert [(p["idx"], p["total"], p["carrier_id"], p["stat"]) for p in h["parts"]] == [
        (1, 2, f"{message_id[:8]}1", "DELIVRD"), (2, 2, f"{message_id[:8]}2", "DELIVRD")]
    kinds = [e["kind"] for e in h["events"]]
    assert kinds[0] == "accepted"
    assert kinds.count("part submitted") == 2 and kinds.count("receipt") == 2
    assert "delivered" in kinds and "callback" in kinds
    assert any(f"carrier id {message_id[:8]}1" in e["detail"] for e in h["events"])
    [callback] = h["callbacks"]
    assert (callback["url"], callback["state"]) == ("https://hooks.example/ok", "PENDING")
    assert "sms_success_event" in callback["body"]
    times = [e["at"] for e in h["events"] if e["at"] is not None]
    assert times == sorted(times)


def test_a_held_message_shows_when_it_will_go(console: TestClient, world: World) -> None:
    [message_id] = ids(send(console, world.project_id, world.sign_id, ["13800138000"]))
    later = int(time.time() * 1000) + 3_600_000
    DeliveryStore(world.store.db).hold([message_id], later)
    h = console.get(f"/console/api/messages/{message_id}").json()
    assert h["message"]["next_attempt_at"] == later and h["message"]["attempts"] == 0
    held = [e for e in h["events"] if e["kind"] == "held"]
    assert held and held[0]["at"] == later
    assert h["parts"] == [] and h["callbacks"] == []

    world.store.db.execute("UPDATE messages SET attempts=2, status_desc='throttled' WHERE id=?", (message_id,))
    h = console.get(f"/console/api/messages/{message_id}").json()
    assert [e["detail"] for e in h["events"] if e["kind"] == "retry scheduled"] == ["after 2 attempt(s): throttled"]


def test_an_unknown_message_is_404(console: TestClient) -> None:
    r = console.get(f"/console/api/messages/{'a' * 32}")
    assert (r.status_code, r.json()["code"]) == (404, "SMN.0102")
    assert console.get("/console/api/messages/nope").status_code == 400


# --- the dashboard ---------------------------------------------------------------------------


def test_the_dashboard_counts_states_rates_refusals_and_the_queue(console: TestClient, world: World) -> None:
    batch = send(console, world.project_id, world.sign_id,
                 ["13800138000", "13000130000", "13300133000", "13800138001", "123"])
    a, b, c, d = ids(batch)
    deliver(world, a, "DELIVRD", channel="cmcc")  # cn-mobile
    deliver(world, b, "UNDELIV", channel="cmcc")  # cn-unicom
    deliver(world, c, "DELIVRD", channel="ctcc")  # cn-telecom
    DeliveryStore(world.store.db).hold([d], int(time.time() * 1000) + 3_600_000)

    dash = console.get("/console/api/dashboard").json()
    assert dash["totals"] == {"QUEUED": 1, "SENDING": 0, "SUBMITTED": 0, "DELIVERED": 2, "FAILED": 1, "EXPIRED": 0}
    assert dash["accepted"] == 4
    assert len(dash["minutes"]) == 60
    assert dash["minutes"][-1]["t"] == dash["now"] // 60_000 * 60_000
    per_minute: dict[str, int] = {}
    for bucket in dash["minutes"]:
        for state, n in bucket["counts"].items():
            per_minute[state] = per_minute.get(state, 0) + n
    assert per_minute == {"QUEUED": 1, "DELIVERED": 2, "FAILED": 1}
    assert dash["by_channel"] == [{"name": "cmcc", "delivered": 1, "failed": 1, "rate": 0.5},
                                  {"name": "ctcc", "delivered": 1, "failed": 0, "rate": 1.0}]
    assert {r["name"]: r["rate"] for r in dash["by_carrier"]} == {"cn-mobile": 1.0, "cn-telecom": 1.0, "cn-unicom": 0.0}
    assert dash["queue"] == {"QUEUED (due)": 0, "QUEUED (held)": 1, "SENDING": 0, "SUBMITTED": 0}
    assert dash["since_start"] == {"accepted": 4, "refused": {"SMN.0012": 1}}
    assert console.get("/console/api/dashboard", params={"minutes": 10}).json()["minutes"][-10:] == dash["minutes"][-10:]


def test_dashboard_buckets_are_by_minute_and_leave_out_older_messages(console: TestClient, world: World) -> None:
    [recent, old] = ids(send(console, world.project_id, world.sign_id, ["13800138000", "13800138001"]))
    now = int(time.time() * 1000)
    three_minutes_ago = now - 3 * 60_000
    two_hours_ago = now - 2 * 3_600_000
    world.store.db.execute("UPDATE messages SET accepted_at=? WHERE id=?", (three_minutes_ago, recent))
    world.store.db.execute("UPDATE messages SET accepted_at=?, id=? WHERE id=?",
                           (two_hours_ago, f"{two_hours_ago:012x}" + old[12:], old))
    dash = console.get("/console/api/dashboard").json()
    counted = {b["t"]: b["counts"] for b in dash["minutes"] if b["counts"]}
    assert counted == {three_minutes_ago // 60_000 * 60_000: {"QUEUED": 1}}
