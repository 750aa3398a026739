"""``POST …/sms/promotion?dry_run=true``: every rule of the real call, nothing stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
from starlette.testclient import TestClient

from smsgate.app import create_app
from smsgate.auth.sdk_hmac import sign_request
from smsgate.domain.records import NewMessage, SignStatus, SignType, new_message_id, now_ms
from tests.conftest import UNSUB, World, item, make_world
from tests.services import require_redis

LONG = "双十一全场五折" * 10 + UNSUB  # 76 characters + the signature: 2 parts


def dry(client: TestClient, world: World, items: list[dict], **params: str) -> dict:
    r = client.post(world.promotion_path, params={"dry_run": "true", **params},
                    json={"sms_message": items})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["dry_run"] is True and r.headers["X-Request-Id"] == body["request_id"]
    assert len(body["result"]) == len(items)
    assert all(res["message_id"] is None for res in body["result"])
    return body


def always_open(world: World) -> None:
    world.store.update_project(world.project_id, send_window="00:00-24:00")


def test_refusals_carry_their_codes_and_nothing_is_stored(client: TestClient, world: World) -> None:
    always_open(world)
    world.store.add_optouts(world.project_id, world.sign_id, ["+8613800138005"])
    items = [
        item("13800138000", sign_id=world.sign_id),
        item("12345", sign_id=world.sign_id),
        item("13800138001", text="双十一全场五折", sign_id=world.sign_id),
        item("13800138002", text=f"本店代 開 發 票，欢迎咨询{UNSUB}", sign_id=world.sign_id),
        item("+8613800138000", sign_id=world.sign_id),  # the first item again
        item("13800138005", sign_id=world.sign_id),  # opted out
        item("13800138006", text=LONG, sign_id=world.sign_id),
        item("13800138007", sign_id="0" * 32),
        {"endpoint": "13800138008", "message": 5, "sign_id": world.sign_id},
    ]
    result = dry(client, world, items)["result"]
    assert result[0] == {"endpoint": "13800138000", "message_id": None, "fee_num": 1, "encoding": "ucs2",
                         "send": "now"}
    assert result[1] == {"endpoint": "12345", "message_id": None, "code": "SMN.0012",
                         "message": "Parameter: Endpoint is invalid."}
    assert result[2]["code"] == "SMN.0204"
    assert result[3] == {
        "endpoint": "13800138002", "message_id": None, "code": "SMN.0227",
        "message": "The message contains sensitive words.",
        "sensitive_word": "代开发票", "sensitive_word_position": 2,
    }
    assert result[4]["code"] == "SMN.0190"
    assert result[5]["code"] == "SMN.0230"
    assert result[6] == {"endpoint": "13800138006", "message_id": None, "fee_num": 2, "encoding": "ucs2",
                         "send": "now"}
    assert result[7]["code"] == "SMN.0084"
    assert result[8]["code"] == "SMN.0009"
    assert world.store.count_messages() == 0
    assert world.store.db.execute("SELECT count(*) FROM daily_counts").fetchone()[0] == 0


def test_the_real_call_answers_what_the_dry_run_said(client: TestClient, world: World) -> None:
    always_open(world)
    items = [item("13800138000", sign_id=world.sign_id),
             item("13800138001", text=f"赌博{UNSUB}", sign_id=world.sign_id),
             item("1", sign_id=world.sign_id)]
    preview = dry(client, world, items)["result"]
    real = client.post(world.promotion_path, json={"sms_message": items}).json()["result"]
    assert [r.get("code") for r in preview] == [r.get("code") for r in real]
    assert world.store.count_messages() == 1  # the real call's one, not two


def test_positions_point_at_the_senders_spelling(client: TestClient, world: World) -> None:
    texts = [
        f"代开发票{UNSUB}",
        f"欢迎光临，本店ＤＡＩ代-开*发_票{UNSUB}",
        f"【阿克米】本店代开发票{UNSUB}",  # the signature is part of the message here
    ]
    items = [item(f"1380013800{i}", text=t, sign_id=world.sign_id) for i, t in enumerate(texts[:2])]
    items.append(item("13800138002", text=texts[2], message_include_sign_flag=True))
    result = dry(client, world, items)["result"]
    positions = [r["sensitive_word_position"] for r in result]
    assert positions == [0, texts[1].index("代"), texts[2].index("代")]
    for text, r in zip(texts, result):
        assert text[r["sensitive_word_position"]] == "代" and r["sensitive_word"] == "代开发票"


def test_a_word_in_the_added_signature_has_no_position(client: TestClient, world: World) -> None:
    sign = world.add_sign("赌博", SignType.PROMOTIONAL, SignStatus.APPROVED)
    [r] = dry(client, world, [item(sign_id=sign)])["result"]
    assert (r["code"], r["sensitive_word"]) == ("SMN.0227", "赌博")
    assert "sensitive_word_position" not in r


def test_project_words_get_positions_too(client: TestClient, world: World) -> None:
    world.store.add_words(world.project_id, ["竞品名"])
    text = f"我们比竞 品 名更便宜{UNSUB}"
    [r] = dry(client, world, [item(text=text, sign_id=world.sign_id)])["result"]
    assert (r["sensitive_word"], r["sensitive_word_position"]) == ("竞品名", 3)


def test_caps_are_counted_as_the_real_call_counts_them(client: TestClient, world: World) -> None:
    always_open(world)
    world.store.update_project(world.project_id, daily_cap=3)
    day = datetime.now(world.settings.zone).date().isoformat()
    at = now_ms()
    sent = [NewMessage(new_message_id(at), world.sign_id, "+8613800138000", "+86",
                       f"【阿克米】第{i}条{UNSUB}", 1, None, None) for i in range(2)]
    world.store.commit_batch(world.project_id, "earlier", day, 3, sent)
    items = [item("13800138000", text=f"新品{i}{UNSUB}", sign_id=world.sign_id) for i in range(3)]
    items.append(item("13800138001", sign_id=world.sign_id))  # another number: its own cap
    preview = dry(client, world, items)["result"]
    assert [r.get("code") for r in preview] == [None, "SMN.0057", "SMN.0057", None]
    assert world.store.count_messages() == 2
    real = client.post(world.promotion_path, json={"sms_message": items}).json()["result"]
    assert [r.get("code") for r in real] == [None, "SMN.0057", "SMN.0057", None]
    again = dry(client, world, items)["result"]  # the cap is now reached
    assert [r.get("code") for r in again] == ["SMN.0057", "SMN.0057", "SMN.0057", None]


def test_caps_kept_in_redis_are_the_ones_the_dry_run_reads(tmp_path: Path) -> None:
    """With SMSGATE_REDIS_URL the real call counts in Redis, not in the store; so does the
    dry run."""
    world = make_world(tmp_path / "data", redis_url=require_redis())
    try:
        always_open(world)
        world.store.update_project(world.project_id, daily_cap=2)
        items = [item("13800138000", text=f"新品{i}{UNSUB}", sign_id=world.sign_id) for i in range(3)]
        with TestClient(create_app(world.settings), headers={"X-Auth-Token": world.token}) as c:
            codes = [r.get("code") for r in dry(c, world, items)["result"]]
            assert codes == [None, None, "SMN.0057"]
            real = c.post(world.promotion_path, json={"sms_message": items[:1]}).json()["result"]
            assert "message_id" in real[0]
            codes = [r.get("code") for r in dry(c, world, items)["result"]]
            assert codes == [None, "SMN.0057", "SMN.0057"]
        assert world.store.count_messages() == 1
    finally:
        world.store.close()


def test_outside_the_window_items_are_held_until_it_opens(client: TestClient, world: World) -> None:
    now = datetime.now(world.settings.zone)
    hour = (now.hour + 2) % 24  # a one-hour window two hours from now: closed whenever this runs
    world.store.update_project(world.project_id, send_window=f"{hour:02d}:00-{hour + 1:02d}:00")
    opens = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if opens < now:
        opens += timedelta(days=1)
    items = [item(sign_id=world.sign_id), item("1", sign_id=world.sign_id)]
    result = dry(client, world, items)["result"]
    held_until = opens.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert result[0] == {"endpoint": "13800138000", "message_id": None, "fee_num": 1, "encoding": "ucs2",
                         "send": "held", "held_until": held_until}
    assert "held_until" not in result[1] and result[1]["code"] == "SMN.0012"
    assert world.store.count_messages() == 0


def test_a_misspelt_flag_is_refused_rather_than_sent(client: TestClient, world: World) -> None:
    for value in ("1", "yes", "TRUE", ""):
        r = client.post(world.promotion_path, params={"dry_run": value},
                        json={"sms_message": [item(sign_id=world.sign_id)]})
        assert r.status_code == 400 and r.json()["code"] == "SMN.0024", value
        assert "dry_run" in r.json()["message"]
    r = client.post(f"{world.promotion_path}?dry_run=true&dry_run=false",
                    json={"sms_message": [item(sign_id=world.sign_id)]})
    assert r.status_code == 400
    assert world.store.count_messages() == 0
    r = client.post(world.promotion_path, params={"dry_run": "false"},
                    json={"sms_message": [item(sign_id=world.sign_id)]})
    assert r.status_code == 200 and "dry_run" not in r.json()
    assert world.store.count_messages() == 1


def test_whole_request_errors_are_the_real_calls(client: TestClient, world: World) -> None:
    r = client.post(world.promotion_path, params={"dry_run": "true"}, json={"sms_message": []})
    assert r.status_code == 400 and r.json()["code"] == "SMN.0159"
    r = client.post(world.promotion_path, params={"dry_run": "true"}, content=b"{not json")
    assert r.status_code == 400 and r.json()["code"] == "SMN.0024"


def test_auth_and_permission_as_for_the_real_call(client: TestClient, world: World) -> None:
    body = {"sms_message": [item(sign_id=world.sign_id)]}
    r = client.post(world.promotion_path, params={"dry_run": "true"}, json=body,
                    headers={"X-Auth-Token": "nope"})
    assert r.status_code == 403 and r.json()["code"] == "SMN.0001"
    other, token = world.new_project("plain", enterprise=True, grants=())
    r = client.post(f"/v2/{other}/notifications/sms/promotion", params={"dry_run": "true"},
                    json=body, headers={"X-Auth-Token": token})
    assert r.status_code == 403 and r.json()["code"] == "SMN.0228"
    r = client.post(f"/v2/{other}/notifications/sms/promotion", params={"dry_run": "true"},
                    json=body)
    assert r.status_code == 403 and r.json()["code"] == "SMN.0001"  # another project's token


def test_a_signed_dry_run(world: World) -> None:
    """The query string is part of what AK/SK signs; the SDK's signer covers it."""
    always_open(world)
    url = f"http://testserver{world.promotion_path}?dry_run=true"
    body = msgspec.json.encode({"sms_message": [item(sign_id=world.sign_id)]})
    headers = {"Content-Type": "application/json;charset=UTF-8"}
    headers |= sign_request("POST", url, headers, body, world.access_key, world.secret_key)
    with TestClient(create_app(world.settings)) as c:
        r = c.post(url, content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["result"][0]["send"] == "now"
    assert world.store.count_messages() == 0


def test_openapi_documents_the_flag_and_the_answer(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    post = doc["paths"]["/v2/{project_id}/notifications/sms/promotion"]["post"]
    [flag] = [p for p in post["parameters"] if p["name"] == "dry_run"]
    assert flag["in"] == "query" and flag["schema"]["enum"] == ["true", "false"]
    assert flag["description"]
    answers = post["responses"]["200"]["content"]["application/json"]["schema"]["anyOf"]
    assert {"$ref": "#/components/schemas/DryRunResponse"} in answers
    assert "DryRunResult" in doc["components"]["schemas"]
