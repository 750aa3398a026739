"""Reports, one message, and callback subscriptions over the API."""

from __future__ import annotations

import time

import pytest
from starlette.testclient import TestClient

from smsgate.store.delivery import DeliveryStore, PartSubmitted, Receipt
from tests.conftest import World, item


def accept(client: TestClient, world: World, n: int) -> list[str]:
    items = [item(f"1380013{i:04d}", sign_id=world.sign_id, extend_code=f"c{i}") for i in range(n)]
    r = client.post(world.promotion_path, json={"sms_message": items})
    return [x["message_id"] for x in r.json()["result"]]


def deliver(world: World, message_id: str, stat: str) -> None:
    """As if the dispatcher submitted it and the receipt came back."""
    delivery = DeliveryStore(world.store.db)
    now = int(time.time() * 1000)
    world.store.db.execute("UPDATE messages SET state='SENDING' WHERE id=?", (message_id,))
    delivery.record_parts([PartSubmitted(message_id, 1, 1, "sim", message_id[:8], now)])
    delivery.apply_receipts([Receipt("sim", message_id[:8], stat, "000", now + 1000)], now)


def report(client: TestClient, world: World, **params) -> dict:
    r = client.get(f"/v2/{world.project_id}/notifications/sms/report", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_report_lists_messages_with_their_status(client: TestClient, world: World) -> None:
    ids = accept(client, world, 3)
    deliver(world, ids[0], "DELIVRD")
    deliver(world, ids[1], "UNDELIV")
    body = report(client, world)
    assert body["count"] == 3
    by_id = {d["message_id"]: d for d in body["data"]}
    assert by_id[ids[0]]["status"] == 1 and by_id[ids[0]]["status_desc"] == "DELIVRD"
    assert by_id[ids[1]]["status"] == 2 and by_id[ids[1]]["status_desc"] == "UNDELIV"
    assert by_id[ids[2]]["status"] == 0 and by_id[ids[2]]["deliver_time"] == ""
    row = by_id[ids[0]]
    assert (row["nation_code"], row["mobile"], row["fee_num"], row["extend_code"]) == ("+86", "13800130000", 1, "c0")
    assert row["submit_time"].endswith("Z") and row["deliver_time"].endswith("Z")
    assert [d["message_id"] for d in report(client, world, status="1")["data"]] == [ids[0]]
    assert report(client, world, mobile="+8613800130002")["data"][0]["message_id"] == ids[2]
    assert report(client, world, message_id=ids[1])["count"] == 1


def test_report_pages(client: TestClient, world: World) -> None:
    ids = accept(client, world, 7)
    first = report(client, world, limit="5")
    second = report(client, world, limit="5", offset="5")
    assert first["count"] == second["count"] == 7
    assert len(first["data"]) == 5 and len(second["data"]) == 2
    assert {d["message_id"] for d in first["data"] + second["data"]} == set(ids)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": "101"}, "SMN.0015"),
        ({"limit": "0"}, "SMN.0015"),
        ({"offset": "-1"}, "SMN.0015"),
        ({"start_time": "yesterday"}, "SMN.0103"),
        ({"end_time": "x"}, "SMN.0104"),
        ({"start_time": "2000", "end_time": "1000"}, "SMN.0114"),
        ({"start_time": "0", "end_time": str(100 * 24 * 3600 * 1000)}, "SMN.0113"),
        ({"message_id": "nothex"}, "SMN.0102"),
    ],
)
def test_report_filters_are_checked(client: TestClient, world: World, params: dict, code: str) -> None:
    r = client.get(f"/v2/{world.project_id}/notifications/sms/report", params=params)
    assert r.status_code == 400 and r.json()["code"] == code


def test_one_message_and_isolation(client: TestClient, world: World) -> None:
    [mid] = accept(client, world, 1)
    r = client.get(f"/v2/{world.project_id}/notifications/sms/message/{mid}")
    assert r.status_code == 200 and r.json()["message"]["message_id"] == mid
    other_id, other_token = world.new_project("rival")
    r = client.get(f"/v2/{other_id}/notifications/sms/message/{mid}", headers={"X-Auth-Token": other_token})
    assert r.status_code == 404 and r.json()["code"] == "SMN.0102"
    assert report(client, world)["count"] == 1
    r = client.get(f"/v2/{other_id}/notifications/sms/report", headers={"X-Auth-Token": other_token})
    assert r.json()["count"] == 0


def test_callback_subscriptions(client: TestClient, world: World) -> None:
    path = f"/v2/{world.project_id}/notifications/sms/callback"
    r = client.put(path, json={"callback": [
        {"event_type": "sms_success_event", "topic_urn": "https://example.invalid/ok"},
        {"event_type": "sms_reply_event", "topic_urn": "urn:smn:cn-north-4:abc:topic"},
    ]})
    assert r.status_code == 200 and r.json()["request_id"] == r.headers["X-Request-Id"]
    subs = client.get(path).json()["callback"]
    assert subs == [
        {"event_type": "sms_reply_event", "topic_urn": "urn:smn:cn-north-4:abc:topic"},
        {"event_type": "sms_success_event", "topic_urn": "https://example.invalid/ok"},
    ]
    assert len(client.get(path, params={"event_type": "sms_reply_event"}).json()["callback"]) == 1
    client.put(path, json={"callback": [{"event_type": "sms_reply_event", "topic_urn": ""}]})
    assert [s["event_type"] for s in client.get(path).json()["callback"]] == ["sms_success_event"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"callback": [{"event_type": "sms_typo_event", "topic_urn": "https://x.invalid/"}]}, "SMN.0100"),
        ({"callback": [{"event_type": "sms_fail_event", "topic_urn": "ftp://x.invalid/"}]}, "SMN.0005"),
        ({"callback": []}, "SMN.0024"),
    ],
)
def test_bad_subscriptions_are_refused(client: TestClient, world: World, body: dict, code: str) -> None:
    r = client.put(f"/v2/{world.project_id}/notifications/sms/callback", json=body)
    assert r.status_code == 400 and r.json()["code"] == code
    assert client.get(f"/v2/{world.project_id}/notifications/sms/callback").json()["callback"] == []
