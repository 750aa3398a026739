"""The headline call, as a client sees it: partial success, per-item codes, durability."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from smsgate.domain.records import SignStatus, SignType
from tests.conftest import UNSUB, World, item

HEX32 = re.compile(r"[0-9a-f]{32}")


def send(client: TestClient, world: World, items: list[dict]) -> list[dict]:
    r = client.post(world.promotion_path, json={"sms_message": items})
    assert r.status_code == 200, r.text
    body = r.json()
    assert HEX32.fullmatch(body["request_id"])
    assert r.headers["X-Request-Id"] == body["request_id"]
    assert len(body["result"]) == len(items)
    return body["result"]


def test_accepts_a_batch_and_queues_every_message(client: TestClient, world: World) -> None:
    items = [item(f"1380013{i:04d}", sign_id=world.sign_id) for i in range(50)]
    results = send(client, world, items)
    ids = [r["message_id"] for r in results]
    assert all(HEX32.fullmatch(i) for i in ids) and len(set(ids)) == 50
    assert [r["endpoint"] for r in results] == [i["endpoint"] for i in items]
    stored = world.store.message(ids[0])
    assert stored["state"] == "QUEUED"
    assert stored["e164"] == "+8613800130000"
    assert stored["text"] == f"【阿克米】双十一全场五折，快来选购{UNSUB}"
    assert stored["sign_id"] == world.sign_id
    assert stored["fee_num"] == 1
    assert world.store.count_messages(world.project_id) == 50


def test_one_bad_item_never_sinks_the_others(client: TestClient, world: World) -> None:
    items = [
        item("13800138000", sign_id=world.sign_id),
        item("12345", sign_id=world.sign_id),  # not a mobile number
        item("13800138001", text="双十一全场五折", sign_id=world.sign_id),  # no unsubscribe text
        item("13800138002", text=f"代开发票，量大从优{UNSUB}", sign_id=world.sign_id),
        item("+8613800138003", sign_id=world.sign_id),
    ]
    results = send(client, world, items)
    assert "message_id" in results[0] and "code" not in results[0]
    assert results[1] == {
        "endpoint": "12345",
        "code": "SMN.0012",
        "message": "Parameter: Endpoint is invalid.",
    }
    assert results[2]["code"] == "SMN.0204"
    assert results[3]["code"] == "SMN.0227"
    assert results[3]["sensitive_word"] == "代开发票"
    assert results[3]["message"] == "The message contains sensitive words."
    assert "message_id" in results[4]
    assert world.store.count_messages() == 2


def test_sensitive_words_survive_evasions(client: TestClient, world: World) -> None:
    evasions = ["代 開 發 票", "代-开*发_票", "ＤＡＩ代开发票"]
    items = [
        item(f"1380013800{i}", text=f"本店{t}，欢迎咨询{UNSUB}", sign_id=world.sign_id)
        for i, t in enumerate(evasions)
    ]
    results = send(client, world, items)
    assert [r.get("sensitive_word") for r in results] == ["代开发票"] * 3


def test_project_words_add_to_the_default_lexicon(client: TestClient, world: World) -> None:
    world.store.add_words(world.project_id, ["竞品名"])
    results = send(client, world, [item(text=f"比竞 品 名更便宜{UNSUB}", sign_id=world.sign_id)])
    assert results[0]["code"] == "SMN.0227" and results[0]["sensitive_word"] == "竞品名"


@pytest.mark.parametrize(
    ("endpoint", "stored"),
    [
        ("13800138000", "+8613800138000"),
        ("8613800138000", "+8613800138000"),
        ("+8613800138000", "+8613800138000"),
        ("+447911123456", "+447911123456"),
    ],
)
def test_numbers_are_normalised(client: TestClient, world: World, endpoint: str, stored: str) -> None:
    [result] = send(client, world, [item(endpoint, sign_id=world.sign_id)])
    assert world.store.message(result["message_id"])["e164"] == stored


def test_duplicate_endpoint_with_same_text_in_one_batch(client: TestClient, world: World) -> None:
    items = [
        item("13800138000", sign_id=world.sign_id),
        item("+8613800138000", sign_id=world.sign_id),  # same number, other spelling
        item("8613800138000", text=f"另一条内容{UNSUB}", sign_id=world.sign_id),  # other text: ok
    ]
    results = send(client, world, items)
    assert "message_id" in results[0]
    assert results[1]["code"] == "SMN.0190"
    assert results[1]["message"] == "This endpoint already exists."
    assert "message_id" in results[2]


def test_flag_true_takes_the_signature_from_the_text(client: TestClient, world: World) -> None:
    results = send(
        client,
        world,
        [
            item(text=f"【阿克米】周末特惠{UNSUB}", message_include_sign_flag="true"),
            item("13800138001", text=f"【阿克米】周末特惠{UNSUB}", message_include_sign_flag=True),
            item("13800138002", text=f"【无此签名】周末特惠{UNSUB}", message_include_sign_flag="true"),
            item("13800138003", text=f"周末特惠{UNSUB}", message_include_sign_flag="true"),
        ],
    )
    assert "message_id" in results[0] and "message_id" in results[1]
    stored = world.store.message(results[0]["message_id"])
    assert stored["text"] == f"【阿克米】周末特惠{UNSUB}" and stored["sign_id"] == world.sign_id
    assert results[2]["code"] == "SMN.0084"
    assert results[3]["code"] == "SMN.0009"


def test_signature_rules(client: TestClient, world: World) -> None:
    pending = world.add_sign("待审", SignType.PROMOTIONAL, SignStatus.PENDING)
    notice = world.add_sign("通知", SignType.NOTIFICATION, SignStatus.APPROVED)
    deleted = world.add_sign("已删", SignType.PROMOTIONAL, SignStatus.DELETED)
    results = send(
        client,
        world,
        [
            item("13800138000", sign_id=pending),
            item("13800138001", sign_id=notice),
            item("13800138002", sign_id=deleted),
            item("13800138003", sign_id="0" * 32),
            item("13800138004"),  # neither sign_id nor flag
            item("13800138005", sign_id=""),  # empty sign_id is absent
            item("13800138006", sign_id=world.sign_id, message_include_sign_flag="false"),
        ],
    )
    assert [r.get("code") for r in results] == [
        "SMN.0087",
        "SMN.0193",
        "SMN.0194",
        "SMN.0084",
        "SMN.0080",
        "SMN.0080",
        None,
    ]


def test_length_counts_the_signature(client: TestClient, world: World) -> None:
    # 【阿克米】 is 5 characters: 485 + 5 = 490 is the most allowed.
    body = "惠" * (485 - len(UNSUB)) + UNSUB
    results = send(
        client,
        world,
        [
            item("13800138000", text=body, sign_id=world.sign_id),
            item("13800138001", text="惠" + body, sign_id=world.sign_id),
            item("13800138002", text="", sign_id=world.sign_id),
        ],
    )
    assert "message_id" in results[0]
    assert world.store.message(results[0]["message_id"])["fee_num"] == 8  # 490 / 67
    assert results[1]["code"] == "SMN.0009" and "491" in results[1]["message"]
    assert results[2]["code"] == "SMN.0009"


def test_extend_fields(client: TestClient, world: World) -> None:
    results = send(
        client,
        world,
        [
            item("13800138000", sign_id=world.sign_id, extend_src_id="1234", extend_code="campaign-7"),
            item("13800138001", sign_id=world.sign_id, extend_src_id="123456789"),
            item("13800138002", sign_id=world.sign_id, extend_src_id="12a"),
            item("13800138003", sign_id=world.sign_id, extend_code="码" * 11),  # 33 bytes
        ],
    )
    stored = world.store.message(results[0]["message_id"])
    assert (stored["extend_src_id"], stored["extend_code"]) == ("1234", "campaign-7")
    assert [r.get("code") for r in results[1:]] == ["SMN.0229", "SMN.0229", "SMN.0231"]


def test_opted_out_numbers_are_refused_for_that_signature_only(client: TestClient, world: World) -> None:
    other = world.add_sign("另一个", SignType.PROMOTIONAL, SignStatus.APPROVED)
    world.store.add_optouts(world.project_id, world.sign_id, ["+8613800138000"])
    results = send(
        client, world, [item("13800138000", sign_id=world.sign_id), item("13800138000", sign_id=other)]
    )
    assert results[0]["code"] == "SMN.0230"
    assert "message_id" in results[1]


def test_daily_cap_per_number(client: TestClient, world: World) -> None:
    world.store.update_project(world.project_id, daily_cap=3)
    texts = [f"第{i}条活动{UNSUB}" for i in range(5)]
    first = send(client, world, [item("13800138000", text=t, sign_id=world.sign_id) for t in texts[:2]])
    second = send(client, world, [item("13800138000", text=t, sign_id=world.sign_id) for t in texts[2:]])
    assert all("message_id" in r for r in first)
    assert "message_id" in second[0]
    assert [r.get("code") for r in second[1:]] == ["SMN.0057", "SMN.0057"]
    assert world.store.count_messages() == 3


def test_flag_accepts_booleans_and_strings_only(client: TestClient, world: World) -> None:
    results = send(
        client,
        world,
        [item(sign_id=world.sign_id, message_include_sign_flag="maybe"), item("13800138001", sign_id=world.sign_id)],
    )
    assert results[0]["code"] == "SMN.0024"
    assert "message_id" in results[1]


def test_a_badly_typed_item_is_refused_alone(client: TestClient, world: World) -> None:
    items = [
        {"endpoint": 13800138000, "message": "x", "sign_id": world.sign_id},
        {"endpoint": "13800138001", "message": ["x"], "sign_id": world.sign_id},
        {"endpoint": "13800138002", "message": "x", "bogus": 1},
        item("13800138003", sign_id=world.sign_id),
    ]
    results = send(client, world, items)
    assert results[0] == {
        "endpoint": "13800138000",
        "code": "SMN.0012",
        "message": results[0]["message"],
    }
    assert results[1]["code"] == "SMN.0009"
    assert results[2]["code"] == "SMN.0024" and "bogus" in results[2]["message"]
    assert "message_id" in results[3]


def test_template_call_on_the_same_path_is_answered(client: TestClient, world: World) -> None:
    r = client.post(world.promotion_path, json={"sms_template_id": "a" * 32, "endpoints": ["13800138000"]})
    assert r.status_code == 404 and r.json()["code"] == "SMN.0162"


def test_permission_needs_enterprise_and_grant(client: TestClient, world: World) -> None:
    for name, enterprise, grants in [("solo", False, ("promotion",)), ("nogrant", True, ())]:
        project_id, token = world.new_project(name, enterprise, grants)
        r = client.post(
            f"/v2/{project_id}/notifications/sms/promotion",
            json={"sms_message": [item()]},
            headers={"X-Auth-Token": token},
        )
        assert r.status_code == 403 and r.json()["code"] == "SMN.0228"


def test_a_project_never_sees_another(client: TestClient, world: World) -> None:
    other_id, other_token = world.new_project("rival")
    r = client.post(world.promotion_path, json={"sms_message": [item(sign_id=world.sign_id)]},
                    headers={"X-Auth-Token": other_token})
    assert r.status_code == 403 and r.json()["code"] == "SMN.0001"
    # nor its signatures: our sign_id is unknown from the rival's project
    world.store.create_sign(other_id, "对手", SignType.PROMOTIONAL)
    r = client.post(f"/v2/{other_id}/notifications/sms/promotion",
                    json={"sms_message": [item(sign_id=world.sign_id)]},
                    headers={"X-Auth-Token": other_token})
    assert r.json()["result"][0]["code"] == "SMN.0084"


def test_admin_changes_reach_a_running_server(client: TestClient, world: World) -> None:
    new = world.add_sign("新签名", SignType.PROMOTIONAL, SignStatus.PENDING)
    assert send(client, world, [item(sign_id=new)])[0]["code"] == "SMN.0087"
    world.store.set_sign_status(world.project_id, new, SignStatus.APPROVED)
    assert "message_id" in send(client, world, [item(sign_id=new)])[0]


def test_one_text_to_many_numbers_is_judged_the_same_for_each(client: TestClient, world: World) -> None:
    bad = f"代开发票，量大从优{UNSUB}"
    long_text = "惠" * 100 + UNSUB
    items = [item(f"1380013{i:04d}", text=bad if i % 2 else long_text, sign_id=world.sign_id) for i in range(6)]
    results = send(client, world, items)
    assert [r.get("sensitive_word") for r in results] == [None, "代开发票"] * 3
    fees = {world.store.message(r["message_id"])["fee_num"] for r in results if "message_id" in r}
    assert fees == {2}


def test_a_second_or_disguised_signature_is_refused_per_item(client: TestClient, world: World) -> None:
    results = send(client, world, [
        item("13800138000", text=f"双十一【京东】同款五折{UNSUB}", sign_id=world.sign_id),
        item("13800138001", text=f"【阿克米】【京东】同款五折{UNSUB}", message_include_sign_flag=True),
        item("13800138002", text=f"\u200b【京东】同款五折{UNSUB}", sign_id=world.sign_id),
        item("13800138003", text=f"〖京东〗同款五折{UNSUB}", sign_id=world.sign_id),
        item("13800138004", text=f"[京 东]同款五折{UNSUB}", sign_id=world.sign_id),
        item("13800138005", text=f"[SALE] 同款五折{UNSUB}", sign_id=world.sign_id),  # a Latin tag is no name
    ])
    assert [r.get("code") for r in results] == ["SMN.0009"] * 5 + [None]
    assert all("signature" in r["message"] for r in results[:5])
    assert world.store.count_messages(world.project_id) == 1


def test_invisible_characters_never_reach_the_store_and_fee_num_counts_what_is_sent(
        client: TestClient, world: World) -> None:
    body = "全场五折" * 14 + "\u200b" * 10 + UNSUB  # 67 characters with the signature; 77 as typed
    [result] = send(client, world, [item(text=body, sign_id=world.sign_id)])
    stored = world.store.message(result["message_id"])
    assert stored["text"] == "【阿克米】" + "全场五折" * 14 + UNSUB and stored["fee_num"] == 1
    r = client.post(world.promotion_path, params={"dry_run": "true"},
                    json={"sms_message": [item("13800138001", text=body, sign_id=world.sign_id)]})
    assert r.json()["result"][0]["fee_num"] == 1
