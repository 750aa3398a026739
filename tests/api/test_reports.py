"""Reports, one message, and callback subscriptions over the API."""

from __future__ import annotations

import time

import pytest
from starlette.testclient import TestClient

from smsgate.app import create_app
from smsgate.callbacks.targets import parse_allow
from smsgate.store.delivery import DeliveryStore, PartSubmitted, Receipt
from smsgate.store.outbox import OutboxStore
from tests.conftest import FakeDns, World, item, make_world


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
        # past what the store's integers hold (these were 500s)
        ({"offset": "9223372036854775808"}, "SMN.0015"),
        ({"end_time": "9223372036854775808"}, "SMN.0104"),
        ({"offset": "9" * 40}, "SMN.0015"),
        # after 9999-12-31
        ({"start_time": "253402300800000"}, "SMN.0103"),
        # digits Python's str.isdigit() takes but int() does not (a 500 too)
        ({"offset": "²"}, "SMN.0015"),
        ({"end_time": "١٢٣"}, "SMN.0104"),
    ],
)
def test_report_filters_are_checked(client: TestClient, world: World, params: dict, code: str) -> None:
    r = client.get(f"/v2/{world.project_id}/notifications/sms/report", params=params)
    assert r.status_code == 400 and r.json()["code"] == code


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_largest_offset_and_times_are_answered_on_either_engine(client: TestClient, world: World) -> None:
    accept(client, world, 1)
    body = report(client, world, offset=str(2**63 - 1))
    assert body["count"] == 1 and body["data"] == []
    body = report(client, world, start_time=str(253402300799999 - 1), end_time="253402300799999")
    assert body["count"] == 0


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


def test_callback_subscriptions(client: TestClient, world: World, dns: FakeDns) -> None:
    dns.names["example.invalid"] = ["93.184.215.14"]  # a public address (never connected to)
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


def test_a_subscription_may_ask_for_batched_delivery(client: TestClient, world: World, dns: FakeDns) -> None:
    """An extension SMN clients never send: shown back only where it was asked for, its
    defaults filled in, dropped by a PUT without it, and carried by the events queued."""
    dns.names["example.invalid"] = ["93.184.215.14"]
    path = f"/v2/{world.project_id}/notifications/sms/callback"
    r = client.put(path, json={"callback": [
        {"event_type": "sms_success_event", "topic_urn": "https://example.invalid/ok",
         "batch": {"max_events": 500.0, "max_wait_ms": 250}},  # 500.0: a whole number, as JSON Schema has it
        {"event_type": "sms_fail_event", "topic_urn": "https://example.invalid/fail", "batch": {}},
        {"event_type": "sms_reply_event", "topic_urn": "https://example.invalid/reply"},
    ]})
    assert r.status_code == 200
    assert client.get(path).json()["callback"] == [
        {"event_type": "sms_fail_event", "topic_urn": "https://example.invalid/fail",
         "batch": {"max_events": 100, "max_wait_ms": 1000}},
        {"event_type": "sms_reply_event", "topic_urn": "https://example.invalid/reply"},
        {"event_type": "sms_success_event", "topic_urn": "https://example.invalid/ok",
         "batch": {"max_events": 500, "max_wait_ms": 250}},
    ]
    outbox = OutboxStore(world.store.db)
    outbox.enqueue([(world.project_id, e, b"{}", None) for e in ("sms_success_event", "sms_reply_event")], 1)
    assert world.store.db.execute("SELECT url, batch_max_events, batch_max_wait_ms FROM outbox ORDER BY id").fetchall() == [
        ("https://example.invalid/ok", 500, 250), ("https://example.invalid/reply", None, None)]
    client.put(path, json={"callback": [{"event_type": "sms_success_event", "topic_urn": "https://example.invalid/ok"}]})
    assert client.get(path, params={"event_type": "sms_success_event"}).json()["callback"] == [
        {"event_type": "sms_success_event", "topic_urn": "https://example.invalid/ok"}]


@pytest.mark.parametrize("batch", [{"max_events": 0}, {"max_events": 1001}, {"max_wait_ms": -1},
                                   {"max_wait_ms": 60_001}, {"max_events": 10, "max_wait_ms": 10**12},
                                   {"max_events": 1.5}, {"max_wait_ms": 1e300}])
def test_batches_out_of_bounds_are_refused_and_nothing_is_changed(client: TestClient, world: World, dns: FakeDns,
                                                                 batch: dict) -> None:
    dns.names["example.invalid"] = ["93.184.215.14"]
    path = f"/v2/{world.project_id}/notifications/sms/callback"
    r = client.put(path, json={"callback": [
        {"event_type": "sms_fail_event", "topic_urn": "https://example.invalid/fail"},
        {"event_type": "sms_success_event", "topic_urn": "https://example.invalid/ok", "batch": batch}]})
    assert r.status_code == 400 and r.json()["code"] == "SMN.0024"
    assert r.json()["message"].startswith("Parameter: batch is invalid: max_events must be a whole number from 1")
    assert client.get(path).json()["callback"] == []


@pytest.mark.parametrize("batch", [{"size": 10}, {"max_events": "10"}, {"max_events": None}, [100, 200], True])
def test_malformed_batches_are_refused(client: TestClient, world: World, batch: object) -> None:
    path = f"/v2/{world.project_id}/notifications/sms/callback"
    r = client.put(path, json={"callback": [
        {"event_type": "sms_success_event", "topic_urn": "urn:smn:cn-north-4:abc:topic", "batch": batch}]})
    assert r.status_code == 400 and r.json()["code"] == "SMN.0024" and "batch" in r.json()["message"]
    assert client.get(path).json()["callback"] == []


#: callback targets inside the network, in the spellings a hostile client would try; the names
#: are answered by the test's resolver (``dns``), nothing is ever connected to
INTERNAL_TARGETS = [
    "http://127.0.0.1:6379/", "http://2130706433/", "http://0x7f000001/", "http://0177.0.0.1/",
    "http://127.1/", "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://localhost.test/",
    "http://v6-loopback.test/", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/",
    "https://192.168.1.1/", "http://[fd00:ec2::254]/", "http://0.0.0.0:8080/", "http://rebind.test/",
    "http://nowhere.test/",
]


def internal_names(dns: FakeDns) -> None:
    dns.names.update({"localhost.test": ["127.0.0.1"], "v6-loopback.test": ["::1"],
                      "rebind.test": ["93.184.215.14", "10.0.0.1"]})


@pytest.mark.parametrize("urn", INTERNAL_TARGETS)
def test_callbacks_cannot_be_aimed_inside_the_network(client: TestClient, world: World, dns: FakeDns, urn: str) -> None:
    internal_names(dns)
    path = f"/v2/{world.project_id}/notifications/sms/callback"
    r = client.put(path, json={"callback": [{"event_type": "sms_success_event", "topic_urn": urn}]})
    assert (r.status_code, r.json()["code"]) == (400, "SMN.0005"), r.text
    assert "public address" in r.json()["message"]
    assert client.get(path).json()["callback"] == []


def test_the_allow_setting_opens_networks_for_callbacks(tmp_path, dns: FakeDns) -> None:
    world = make_world(tmp_path / "data", callback_allow=parse_allow("127.0.0.0/8"))
    dns.names["localhost.test"] = ["127.0.0.1"]
    path = f"/v2/{world.project_id}/notifications/sms/callback"
    with TestClient(create_app(world.settings), headers={"X-Auth-Token": world.token}) as client:
        for urn in ("http://127.0.0.1:8080/cb", "http://2130706433/cb", "http://localhost.test/cb"):
            r = client.put(path, json={"callback": [{"event_type": "sms_fail_event", "topic_urn": urn}]})
            assert r.status_code == 200, (urn, r.text)
        r = client.put(path, json={"callback": [{"event_type": "sms_fail_event", "topic_urn": "http://[::1]/cb"}]})
        assert (r.status_code, r.json()["code"]) == (400, "SMN.0005")  # ::1 is not in 127.0.0.0/8
    world.store.close()


def test_a_resolver_that_cannot_answer_is_a_503_and_keeps_nothing(client: TestClient, world: World, dns: FakeDns) -> None:
    def down() -> list[str]:
        raise OSError("Temporary failure in name resolution")

    dns.names["hooks.example.com"] = down
    path = f"/v2/{world.project_id}/notifications/sms/callback"
    r = client.put(path, json={"callback": [{"event_type": "sms_success_event", "topic_urn": "https://hooks.example.com/x"}]})
    assert (r.status_code, r.json()["code"]) == (503, "SMN.0018")
    assert client.get(path).json()["callback"] == []
