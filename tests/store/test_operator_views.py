"""What operators read and change through the store (``store.operators``, ``projects``,
``optouts``, ``history``, ``reports``): the console's and the command line's SQL, on SQLite and
on PostgreSQL."""

from __future__ import annotations

import pytest

from smsgate.domain import errors
from smsgate.domain.records import (
    NewMessage,
    SignStatus,
    SignType,
    new_message_id,
    now_ms,
)
from smsgate.store import history, operators, optouts, projects, reports
from smsgate.store.delivery import DeliveryStore, PartSubmitted, Receipt
from smsgate.store.outbox import OutboxStore
from tests.conftest import World

MINUTE = 60_000


def accept(world: World, numbers: list[str], at: int | None = None) -> list[str]:
    """Queue one message per number, accepted at ``at`` (default now)."""
    messages = [NewMessage(new_message_id(at or now_ms()), world.sign_id, n, "+86", "【阿克米】x", 1,
                           None, None) for n in numbers]
    world.store.commit_batch(world.project_id, "req", "2026-11-25", 100, messages)
    if at is not None:
        for m in messages:
            world.store.db.execute("UPDATE messages SET accepted_at=? WHERE id=?", (at, m.id))
    return [m.id for m in messages]


def deliver(world: World, message_id: str, stat: str, channel: str = "sim") -> None:
    """As if the dispatcher submitted the message's one part and its receipt came back."""
    delivery = DeliveryStore(world.store.db)
    now = now_ms()
    world.store.db.execute("UPDATE messages SET state='SENDING' WHERE id=?", (message_id,))
    delivery.record_parts([PartSubmitted(message_id, 1, 1, channel, message_id[-8:], now)])
    delivery.apply_receipts([Receipt(channel, message_id[-8:], stat, "000", now + 1)], now)


# --- operators -------------------------------------------------------------------------------


def test_operators_are_added_once_listed_rekeyed_and_deleted(world: World) -> None:
    db = world.store.db
    assert operators.add_operator(db, "carol", "scrypt$1")
    assert operators.add_operator(db, "bob", "scrypt$2")
    assert not operators.add_operator(db, "carol", "scrypt$other")  # nothing changed
    assert operators.operator_hash(db, "carol") == "scrypt$1"
    assert [name for name, _ in operators.list_operators(db)] == ["bob", "carol"]
    assert operators.set_operator_password(db, "carol", "scrypt$3")
    assert operators.operator_hash(db, "carol") == "scrypt$3"
    assert not operators.set_operator_password(db, "nobody", "scrypt$4")
    assert operators.delete_operator(db, "carol") and not operators.delete_operator(db, "carol")
    assert operators.operator_hash(db, "carol") is None


# --- projects, keys, opt-outs ----------------------------------------------------------------


def test_the_overview_counts_live_signatures_and_keys(world: World) -> None:
    store = world.store
    deleted = world.add_sign("旧名字", SignType.PROMOTIONAL, SignStatus.APPROVED)
    store.set_sign_status(world.project_id, deleted, SignStatus.DELETED)
    store.add_access_key(world.project_id, "AK-REVOKED", b"sealed")
    store.revoke_access_key("AK-REVOKED")
    other, _ = world.new_project("beta", enterprise=False, grants=())
    rows = {r["id"]: r for r in projects.overview(store.db)}
    assert rows[world.project_id] | {"created_at": 0} == {
        "id": world.project_id, "name": "acme", "enterprise": True, "grants": ["promotion"],
        "daily_cap": None, "send_window": None, "created_at": 0, "signs": 1, "keys": 1}
    assert (rows[other]["enterprise"], rows[other]["grants"], rows[other]["signs"]) == (False, [], 0)
    keys = projects.access_keys(store.db, world.project_id)
    assert {k["access_key"]: k["revoked_at"] is not None for k in keys} == {
        world.access_key: False, "AK-REVOKED": True}
    assert projects.key_project(store.db, "AK-REVOKED") == world.project_id
    assert projects.key_project(store.db, "AK-NONE") is None


def test_settings_go_back_to_the_default_with_a_new_version(world: World) -> None:
    store = world.store
    store.update_project(world.project_id, daily_cap=3, send_window="09:00-18:00")
    before = store.require_project(world.project_id).version
    project = projects.edit_project(store, world.project_id, {"enterprise": 0}, ("daily_cap",))
    assert (project.daily_cap, project.send_window, project.enterprise) == (None, "09:00-18:00", False)
    assert project.version > before
    with pytest.raises(errors.BadRequest):
        projects.edit_project(store, world.project_id, {}, ("name",))
    with pytest.raises(errors.ProjectNotFound):
        projects.edit_project(store, "0" * 32, {}, ("daily_cap",))
    assert store.require_project(world.project_id).send_window == "09:00-18:00"  # rolled back


def test_opt_outs_are_filtered_paged_and_removed(world: World) -> None:
    store = world.store
    other = world.add_sign("别的", SignType.PROMOTIONAL, SignStatus.APPROVED)
    store.add_optouts(world.project_id, world.sign_id, ["+8613800138000", "+8613800138001"])
    store.add_optouts(world.project_id, other, ["+8613800138000"])
    count, rows = optouts.page(store.db, world.project_id, None, None, 2, 0)
    assert count == 3 and len(rows) == 2
    assert optouts.page(store.db, world.project_id, None, None, 2, 2)[1][0]["e164"] in {
        "+8613800138000", "+8613800138001"}
    count, rows = optouts.page(store.db, world.project_id, other, None, 10, 0)
    assert (count, rows[0]["sign_name"], rows[0]["e164"]) == (1, "别的", "+8613800138000")
    assert optouts.page(store.db, world.project_id, None, "+8613800138001", 10, 0)[0] == 1
    assert optouts.remove(store.db, world.project_id, world.sign_id, "+8613800138000")
    assert not optouts.remove(store.db, world.project_id, world.sign_id, "+8613800138000")
    assert optouts.page(store.db, world.project_id, None, None, 10, 0)[0] == 2


# --- messages --------------------------------------------------------------------------------


def test_messages_are_searched_by_every_filter_newest_first(world: World) -> None:
    db = world.store.db
    now = now_ms()
    old, = accept(world, ["+8613800138009"], at=now - 90 * MINUTE)
    a, b, c = accept(world, ["+8613800138000", "+8613800138001", "+8613800138002"])
    deliver(world, a, "DELIVRD")

    def found(**criteria: object) -> list[str]:
        return [m["id"] for m in history.search_messages(db, history.MessageFilter(**criteria))[0]]

    assert found() == [c, b, a, old]
    assert found(e164="+8613800138001") == [b]
    assert found(message_id=a) == [a]
    assert found(state="DELIVERED") == [a]
    assert found(sign_name="阿克米", project_id=world.project_id) == [c, b, a, old]
    assert found(sign_id=world.sign_id, start=now - MINUTE) == [c, b, a]
    assert found(end=now - MINUTE) == [old]
    assert found(project_id="0" * 32) == []
    rows, more = history.search_messages(db, history.MessageFilter(limit=2))
    assert [r["id"] for r in rows] == [c, b] and more
    assert rows[0]["project_name"] == "acme" and rows[0]["sign_name"] == "阿克米"
    rows, more = history.search_messages(db, history.MessageFilter(limit=2, offset=2))
    assert [r["id"] for r in rows] == [a, old] and not more


def test_a_message_history_holds_parts_callbacks_replies_and_the_opt_out(world: World) -> None:
    store = world.store
    OutboxStore(store.db).subscribe(world.project_id, [("sms_success_event", "https://hooks.example/a")],
                                    b"sealed")
    mid, = accept(world, ["+8613800138000"])
    deliver(world, mid, "DELIVRD")
    DeliveryStore(store.db).record_reply("+8613800138000", "R", now_ms() + 10)
    store.add_optouts(world.project_id, world.sign_id, ["+8613800138000"])
    OutboxStore(store.db).enqueue([(world.project_id, "sms_success_event", b'{"x":1}', mid)], now_ms())
    found = history.message_history(store.db, mid)
    assert found is not None
    assert (found["message"]["state"], found["message"]["text"]) == ("DELIVERED", "【阿克米】x")
    assert [(p["idx"], p["stat"], p["carrier_id"]) for p in found["parts"]] == [(1, "DELIVRD", mid[-8:])]
    assert found["parts"] == history.message_parts(store.db, mid)
    assert [(c["url"], c["body"]) for c in found["callbacks"]] == [("https://hooks.example/a", '{"x":1}')]
    assert [r["text"] for r in found["replies"]] == ["R"]
    assert found["opted_out_at"] is not None
    assert history.message_history(store.db, "f" * 32) is None


# --- counts ----------------------------------------------------------------------------------


def test_the_dashboard_counts_by_minute_channel_and_prefix(world: World) -> None:
    now = now_ms()
    a, b, c = accept(world, ["+8613800138000", "+8613000130000", "+8613800138001"])
    old, = accept(world, ["+8613800138002"], at=now - 3 * 60 * MINUTE)
    deliver(world, a, "DELIVRD", channel="cmcc")
    deliver(world, b, "UNDELIV", channel="cmcc")
    DeliveryStore(world.store.db).hold([c], now + 60 * MINUTE)
    counts = reports.dashboard(world.store.db, now, 60)
    assert len(counts.per_minute) == 60 and counts.first_minute == now // MINUTE - 59
    assert counts.per_minute[now // MINUTE] == {"DELIVERED": 1, "FAILED": 1, "QUEUED": 1}
    assert counts.by_channel == {"cmcc": {"DELIVERED": 1, "FAILED": 1}}
    assert counts.by_prefix == {"+86138": {"DELIVERED": 1}, "+86130": {"FAILED": 1}}
    assert (counts.queue["held"], counts.queue["due"]) == (1, 1)  # the old one is due
    assert counts.outbox == {"PENDING": 0, "FAILED": 0}


def test_recent_messages_are_counted_by_state_and_listed_newest_first(world: World) -> None:
    now = now_ms()
    a, b = accept(world, ["+8613800138000", "+8613800138001"])
    accept(world, ["+8613800138002"], at=now - 2 * 60 * MINUTE)
    deliver(world, a, "DELIVRD")
    counts, rows = reports.recent(world.store.db, now - MINUTE, None, 10)
    assert counts == {"DELIVERED": 1, "QUEUED": 1}
    assert [r[0] for r in rows] == [b, a]
    assert dict(zip(reports.REPORT_COLUMNS, rows[1]))["state"] == "DELIVERED"
    assert len(reports.recent(world.store.db, 0, world.project_id, 2)[1]) == 2
    assert reports.recent(world.store.db, 0, "0" * 32, 10) == ({}, [])
