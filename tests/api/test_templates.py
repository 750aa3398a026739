"""SMS templates (SPEC §4): create, list, show, delete, and the template promotion call on the
headline call's path, each rule with its code; dry run, idempotency and signed replays as for
the headline call.  On SQLite and on the real PostgreSQL."""

from __future__ import annotations

import json
import re

import pytest
from starlette.testclient import TestClient

from smsgate.app import create_app
from smsgate.domain.records import SignStatus, SignType, TemplateStatus, TemplateType
from smsgate.store import templates as stored
from tests.api.test_replay import signed
from tests.conftest import UNSUB, World

HEX32 = re.compile(r"[0-9a-f]{32}")
CONTENT = f"会员日全场五折，欢迎选购{UNSUB}"


@pytest.fixture
def backend(both_backends: str) -> str:
    return both_backends


def path(world: World, suffix: str = "") -> str:
    return f"/v2/{world.project_id}/notifications/sms_template{suffix}"


def create(client: TestClient, world: World, name: str = "会员日", kind: object = 1,
           content: object = CONTENT, **extra: object) -> dict:
    body = {"sms_template_name": name, "sms_template_type": kind, "sms_template_content": content,
            **extra}
    r = client.post(path(world), json=body)
    return {"status": r.status_code, **r.json()}


def approved(client: TestClient, world: World, name: str = "会员日", content: str = CONTENT) -> str:
    created = create(client, world, name, content=content)
    assert created["status"] == 201, created
    stored.set_status(world.store.db, world.project_id, created["sms_template_id"], TemplateStatus.APPROVED)
    return created["sms_template_id"]


def promote(client: TestClient, world: World, template_id: str, endpoints: list, *,
            sign_id: str | None = None, params: dict | None = None, headers: dict | None = None):
    body = {"sms_template_id": template_id, "sign_id": sign_id or world.sign_id, "endpoints": endpoints}
    return client.post(world.promotion_path, json=body, params=params or {}, headers=headers or {})


def codes(r) -> list[str | None]:
    assert r.status_code == 200, r.text
    return [x.get("code") for x in r.json()["result"]]


# --- create, list, show, delete ----------------------------------------------------------------


def test_a_template_is_created_listed_shown_and_deleted(client: TestClient, world: World) -> None:
    created = create(client, world, remark="双十一用")
    assert created["status"] == 201 and HEX32.fullmatch(created["sms_template_id"])
    assert HEX32.fullmatch(created["request_id"])
    tid = created["sms_template_id"]
    listed = client.get(path(world)).json()
    assert listed["sms_template_count"] == 1
    [shown] = listed["sms_templates"]
    assert {k: v for k, v in shown.items() if k != "create_time"} == {
        "sms_template_id": tid, "sms_template_name": "会员日", "sms_template_type": 1,
        "sms_template_content": CONTENT, "status": 0, "reply": ""}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", shown["create_time"])
    one = client.get(path(world, f"/{tid}")).json()
    assert one["sms_template_id"] == tid and one["remark"] == "双十一用" and one["status"] == 0
    assert set(client.delete(path(world, f"/{tid}")).json()) == {"request_id"}
    gone = client.get(path(world, f"/{tid}"))
    assert (gone.status_code, gone.json()["code"]) == (404, "SMN.0162")
    again = client.delete(path(world, f"/{tid}"))
    assert (again.status_code, again.json()["code"]) == (404, "SMN.0162")
    assert client.get(path(world)).json()["sms_template_count"] == 0


@pytest.mark.parametrize(("field", "value", "code"), [
    ("kind", 2, "SMN.0155"), ("kind", "1", "SMN.0155"), ("kind", True, "SMN.0155"), ("kind", None, "SMN.0155"),
    ("name", "", "SMN.0156"), ("name", "   ", "SMN.0156"), ("name", "x" * 31, "SMN.0156"),
    ("name", "a\nb", "SMN.0156"), ("name", 7, "SMN.0156"),
    ("content", "", "SMN.0157"), ("content", " \u200b ", "SMN.0157"), ("content", None, "SMN.0157"),
    ("content", "多" * 475 + UNSUB, "SMN.0157"), ("content", f"a\x00b{UNSUB}", "SMN.0157"),
    ("content", f"【阿克米】会员日{UNSUB}", "SMN.0009"), ("content", f"会员日〖京东〗{UNSUB}", "SMN.0009"),
    ("content", "会员日全场五折", "SMN.0204"), ("content", f"代开发票{UNSUB}", "SMN.0227"),
])
def test_a_bad_field_is_refused_with_its_code(client: TestClient, world: World, field: str,
                                              value: object, code: str) -> None:
    created = create(client, world, **{field: value})
    assert created["code"] == code, created
    assert created["status"] in (400, 403)
    assert client.get(path(world)).json()["sms_template_count"] == 0


def test_the_screen_names_the_sensitive_word_and_sees_through_evasions(client: TestClient, world: World) -> None:
    created = create(client, world, content=f"代 开 發 票{UNSUB}")
    assert created["code"] == "SMN.0227" and "代开发票" in created["message"]


def test_a_notification_template_needs_no_unsubscribe_text_and_remarks_are_capped(
        client: TestClient, world: World) -> None:
    assert create(client, world, "通知", kind=0, content="您的订单已发货")["status"] == 201
    assert create(client, world, "备注", remark="x" * 1501)["code"] == "SMN.0082"
    assert create(client, world, "通知", kind=0, content="又一个")["code"] == "SMN.0156"  # taken


def test_at_most_100_templates_a_project(client: TestClient, world: World) -> None:
    for i in range(100):
        stored.create(world.store.db, world.project_id, f"t{i}", TemplateType.PROMOTIONAL, CONTENT, "")
    created = create(client, world, "第101个")
    assert (created["status"], created["code"]) == (400, "SMN.0152")


def test_list_filters_and_pages(client: TestClient, world: World) -> None:
    a = approved(client, world, "甲")
    b = create(client, world, "乙", kind=0, content="通知内容")["sms_template_id"]
    c = create(client, world, "丙")["sms_template_id"]
    stored.set_status(world.store.db, world.project_id, c, TemplateStatus.REJECTED, "OTHER: 不符合")

    def ids(**params: str) -> tuple[int, list[str]]:
        body = client.get(path(world), params=params).json()
        return body["sms_template_count"], [t["sms_template_id"] for t in body["sms_templates"]]

    assert ids() == (3, [a, b, c])
    assert ids(sms_template_name="乙") == (1, [b])
    assert ids(sms_template_type="1") == (2, [a, c])
    assert ids(status="3") == (1, [a]) and ids(status="4") == (1, [c]) and ids(status="0") == (1, [b])
    assert ids(limit="1", offset="1") == (3, [b])
    for params, code in [({"limit": "0"}, "SMN.0015"), ({"limit": "101"}, "SMN.0015"),
                         ({"offset": "-1"}, "SMN.0015"), ({"sms_template_type": "2"}, "SMN.0155"),
                         ({"status": "5"}, "SMN.0024")]:
        r = client.get(path(world), params=params)
        assert (r.status_code, r.json()["code"]) == (400, code), params


def test_ids_are_checked_and_projects_see_only_their_own(client: TestClient, world: World) -> None:
    tid = approved(client, world)
    r = client.get(path(world, "/not-an-id"))
    assert (r.status_code, r.json()["code"]) == (400, "SMN.0161")
    other_id, other_token = world.new_project("rival")
    r = client.get(f"/v2/{other_id}/notifications/sms_template/{tid}", headers={"X-Auth-Token": other_token})
    assert (r.status_code, r.json()["code"]) == (404, "SMN.0162")
    r = client.delete(f"/v2/{other_id}/notifications/sms_template/{tid}", headers={"X-Auth-Token": other_token})
    assert (r.status_code, r.json()["code"]) == (404, "SMN.0162")
    assert client.get(path(world, f"/{tid}")).status_code == 200


# --- the template promotion call ----------------------------------------------------------------


def test_the_template_is_sent_signed_to_every_number(client: TestClient, world: World) -> None:
    tid = approved(client, world)
    numbers = [f"1380013{i:04d}" for i in range(999)]
    r = promote(client, world, tid, numbers)
    body = r.json()
    assert r.status_code == 200 and HEX32.fullmatch(body["request_id"])
    assert [x["endpoint"] for x in body["result"]] == numbers
    ids = [x["message_id"] for x in body["result"]]
    assert all(HEX32.fullmatch(i) for i in ids) and len(set(ids)) == 999
    message = world.store.message(ids[0])
    assert message["text"] == f"【阿克米】{CONTENT}" and message["sign_id"] == world.sign_id
    assert message["state"] == "QUEUED" and message["fee_num"] == 1
    assert world.store.count_messages(world.project_id) == 999


def test_numbers_are_screened_one_by_one(client: TestClient, world: World) -> None:
    tid = approved(client, world)
    world.store.add_optouts(world.project_id, world.sign_id, ["+8613800138003"])
    world.store.update_project(world.project_id, daily_cap=1)
    promote(client, world, tid, ["13800138004"])  # takes that number's one message of the day
    r = promote(client, world, tid, ["13800138000", "12345", "+8613800138000", 13800138001,
                                     "13800138003", "13800138004", None, "+447911123456"])
    assert codes(r) == [None, "SMN.0012", "SMN.0190", "SMN.0012", "SMN.0230", "SMN.0057",
                        "SMN.0012", None]
    result = r.json()["result"]
    assert [x["endpoint"] for x in result[3:7]] == ["13800138001", "13800138003", "13800138004", ""]
    abroad = world.store.message(result[7]["message_id"])
    assert abroad["e164"] == "+447911123456" and abroad["text"] == f"【阿克米】{CONTENT}"


@pytest.mark.parametrize(("change", "status", "code"), [
    ("bad_id", 400, "SMN.0161"), ("unknown", 404, "SMN.0162"), ("pending", 400, "SMN.0163"),
    ("rejected", 400, "SMN.0163"), ("notification", 400, "SMN.0155"), ("no_numbers", 400, "SMN.0159"),
    ("too_many", 400, "SMN.0159"), ("unknown_sign", 404, "SMN.0084"), ("pending_sign", 400, "SMN.0087"),
    ("notification_sign", 400, "SMN.0193"), ("no_sign", 400, "SMN.0080"), ("bad_extend_code", 400, "SMN.0231"),
    ("both_forms", 400, "SMN.0024"), ("deleted", 404, "SMN.0162"),
])
def test_a_batch_that_cannot_be_sent_is_refused_whole(client: TestClient, world: World, change: str,
                                                      status: int, code: str) -> None:
    tid = approved(client, world)
    body: dict = {"sms_template_id": tid, "sign_id": world.sign_id, "endpoints": ["13800138000"]}
    if change == "bad_id":
        body["sms_template_id"] = "T" * 32
    elif change == "unknown":
        body["sms_template_id"] = "a" * 32
    elif change in ("pending", "rejected"):
        body["sms_template_id"] = create(client, world, "待审")["sms_template_id"]
        if change == "rejected":
            stored.set_status(world.store.db, world.project_id, body["sms_template_id"], TemplateStatus.REJECTED)
    elif change == "notification":
        nid = create(client, world, "通知", kind=0, content="您的订单已发货")["sms_template_id"]
        stored.set_status(world.store.db, world.project_id, nid, TemplateStatus.APPROVED)
        body["sms_template_id"] = nid
    elif change in ("no_numbers", "too_many"):
        body["endpoints"] = [] if change == "no_numbers" else [f"1380013{i:04d}" for i in range(1000)]
    elif change == "unknown_sign":
        body["sign_id"] = "b" * 32
    elif change == "pending_sign":
        body["sign_id"] = world.add_sign("待审核", SignType.PROMOTIONAL, SignStatus.PENDING)
    elif change == "notification_sign":
        body["sign_id"] = world.add_sign("通知签名", SignType.NOTIFICATION, SignStatus.APPROVED)
    elif change == "no_sign":
        del body["sign_id"]
    elif change == "bad_extend_code":
        body["extend_code"] = "x" * 33
    elif change == "both_forms":
        body["sms_message"] = [{"endpoint": "13800138000", "message": CONTENT, "sign_id": world.sign_id}]
    elif change == "deleted":
        client.delete(path(world, f"/{tid}"))
    r = client.post(world.promotion_path, json=body)
    assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert world.store.count_messages(world.project_id) == 0


def test_the_call_needs_the_promotion_grant(client: TestClient, world: World) -> None:
    project_id, token = world.new_project("solo", False)
    r = client.post(f"/v2/{project_id}/notifications/sms/promotion", headers={"X-Auth-Token": token},
                    json={"sms_template_id": "a" * 32, "sign_id": world.sign_id, "endpoints": ["13800138000"]})
    assert (r.status_code, r.json()["code"]) == (403, "SMN.0228")


def test_a_word_added_to_the_lexicon_after_review_stops_the_text(client: TestClient, world: World) -> None:
    tid = approved(client, world)
    world.store.add_words(world.project_id, ["会员日"])
    r = promote(client, world, tid, ["13800138000", "12345"])
    assert codes(r) == ["SMN.0227", "SMN.0012"]
    assert r.json()["result"][0]["sensitive_word"] == "会员日"


def test_messages_accepted_before_a_delete_still_go_out(client: TestClient, world: World) -> None:
    tid = approved(client, world)
    [accepted] = promote(client, world, tid, ["13800138000"]).json()["result"]
    assert client.delete(path(world, f"/{tid}")).status_code == 200
    assert world.store.message(accepted["message_id"])["state"] == "QUEUED"


def test_extend_code_goes_with_every_message(client: TestClient, world: World) -> None:
    tid = approved(client, world)
    r = client.post(world.promotion_path, json={"sms_template_id": tid, "sign_id": world.sign_id,
                                                "endpoints": ["13800138000"], "extend_code": "camp-7"})
    assert world.store.message(r.json()["result"][0]["message_id"])["extend_code"] == "camp-7"


# --- dry run, idempotency, signed replays -------------------------------------------------------


def test_a_dry_run_answers_every_rule_and_stores_nothing(client: TestClient, world: World) -> None:
    tid = approved(client, world)
    world.store.update_project(world.project_id, send_window="00:00-24:00")
    world.store.add_optouts(world.project_id, world.sign_id, ["+8613800138001"])
    r = promote(client, world, tid, ["13800138000", "13800138001", "12345"], params={"dry_run": "true"})
    body = r.json()
    assert body["dry_run"] is True and all(x["message_id"] is None for x in body["result"])
    assert [x.get("code") for x in body["result"]] == [None, "SMN.0230", "SMN.0012"]
    assert body["result"][0]["fee_num"] == 1 and body["result"][0]["send"] == "now"
    assert world.store.count_messages(world.project_id) == 0
    r = promote(client, world, "a" * 32, ["13800138000"], params={"dry_run": "true"})
    assert r.json()["code"] == "SMN.0162"


def test_an_idempotency_key_answers_again_and_sends_nothing_twice(client: TestClient, world: World) -> None:
    tid = approved(client, world)
    numbers = ["13800138000", "13800138001", "12345"]
    first = promote(client, world, tid, numbers, headers={"X-Idempotency-Key": "batch-1"})
    again = promote(client, world, tid, numbers, headers={"X-Idempotency-Key": "batch-1"})
    assert again.json() == first.json() and again.headers["X-Idempotent-Replay"] == "true"
    assert world.store.count_messages(world.project_id) == 2
    other = promote(client, world, tid, numbers[:1], headers={"X-Idempotency-Key": "batch-1"})
    assert other.status_code == 409


def test_a_replayed_signed_call_gets_the_first_answer(world: World) -> None:
    with TestClient(create_app(world.settings), headers={"X-Auth-Token": world.token}) as client:
        tid = approved(client, world)
    body = json.dumps({"sms_template_id": tid, "sign_id": world.sign_id,
                       "endpoints": ["13800138000", "13800138001"]}).encode()
    with TestClient(create_app(world.settings)) as bare:
        headers = signed(world, "POST", world.promotion_path, body)
        first = bare.post(world.promotion_path, content=body, headers=headers)
        again = bare.post(world.promotion_path, content=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and all(x["message_id"] for x in first.json()["result"])
    assert world.store.count_messages(world.project_id) == 2


def test_each_side_of_the_border_gets_its_own_text_screened_once(client: TestClient, world: World) -> None:
    sign_id = world.add_sign("ACME", SignType.PROMOTIONAL, SignStatus.APPROVED)
    english = approved(client, world, "english", "Big sale today only. STOP to end")
    r = promote(client, world, english, ["+447911123456", "13800138000", "+447911123457"], sign_id=sign_id)
    assert codes(r) == [None, "SMN.0204", None]  # English unsubscribe forms count abroad only
    abroad = world.store.message(r.json()["result"][0]["message_id"])
    assert abroad["text"] == "[ACME] Big sale today only. STOP to end"
    assert abroad["fee_num"] == 1  # GSM-7: one part
    chinese = approved(client, world, "chinese")
    r = promote(client, world, chinese, ["+447911123456", "13800138000"], sign_id=sign_id)
    texts = [world.store.message(x["message_id"])["text"] for x in r.json()["result"]]
    assert texts == [f"[ACME] {CONTENT}", f"【ACME】{CONTENT}"]
