"""Console actions on projects, keys, signatures, words, opt-outs and callbacks, each checked in
the store; on SQLite and on PostgreSQL (the console's SQL is written once for both)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from smsgate.domain.records import SignStatus
from smsgate.store.outbox import OutboxStore
from tests.api.test_reports import INTERNAL_TARGETS, internal_names
from tests.conftest import FakeDns, World
from tests.console.conftest import CSRF


@pytest.fixture
def backend(both_backends: str) -> str:
    return both_backends


def post(c: TestClient, path: str, body: object = None, method: str = "POST") -> dict:
    r = c.request(method, f"/console/api/{path}", json=body, headers=CSRF)
    assert r.status_code in (200, 201), r.text
    return r.json()


def refused(c: TestClient, path: str, body: object, status: int, code: str, method: str = "POST") -> dict:
    r = c.request(method, f"/console/api/{path}", json=body, headers=CSRF)
    assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert r.json()["request_id"] and r.json()["message"]
    return r.json()


def test_projects_are_listed_created_and_edited(console: TestClient, world: World) -> None:
    listed = console.get("/console/api/projects").json()["projects"]
    assert [(p["name"], p["signs"], p["keys"]) for p in listed] == [("acme", 1, 1)]
    created = post(console, "projects", {"name": "beta", "enterprise": False, "grants": []})
    project = world.store.require_project(created["id"])
    assert (project.name, project.enterprise, project.grants) == ("beta", False, frozenset())
    assert not created["may_promote"]

    edited = post(console, f"projects/{project.id}", {"enterprise": True, "grants": ["promotion"],
                                                      "daily_cap": 3, "send_window": "09:00-21:30"},
                  method="PUT")
    assert edited["may_promote"]
    project = world.store.require_project(project.id)
    assert (project.enterprise, project.grants, project.daily_cap, project.send_window) == (
        True, frozenset({"promotion"}), 3, "09:00-21:30")

    post(console, f"projects/{project.id}", {"daily_cap": None, "send_window": ""}, method="PUT")
    project = world.store.require_project(project.id)
    assert (project.daily_cap, project.send_window, project.enterprise) == (None, None, True)  # back to defaults

    refused(console, f"projects/{project.id}", {"send_window": "25:00-26:00"}, 400, "SMN.0024", "PUT")
    refused(console, f"projects/{project.id}", {"daily_cap": 0}, 400, "SMN.0024", "PUT")
    refused(console, f"projects/{project.id}", {"colour": "red"}, 400, "SMN.0024", "PUT")
    refused(console, "projects", {"name": ""}, 400, "SMN.0024")
    refused(console, f"projects/{'f' * 32}", {"daily_cap": 5}, 403, "SMN.0001", "PUT")


def test_project_page_shows_everything_about_it(console: TestClient, world: World) -> None:
    page = console.get(f"/console/api/projects/{world.project_id}").json()
    assert page["project"]["id"] == world.project_id and page["project"]["may_promote"]
    assert [(s["id"], s["status"], s["type"]) for s in page["signs"]] == [(world.sign_id, "approved", "promotional")]
    assert [k["access_key"] for k in page["keys"]] == [world.access_key]
    assert page["words"] == [] and page["callbacks"] == {}


def test_an_access_key_is_shown_once_and_revoked(console: TestClient, world: World) -> None:
    created = post(console, f"projects/{world.project_id}/keys")
    ak, sk = created["access_key"], created["secret_key"]
    stored = world.store.access_key(ak)
    assert stored is not None and stored[0] == world.project_id
    assert sk.encode() not in stored[1]  # encrypted at rest
    from smsgate.auth.secrets import SecretBox
    assert SecretBox.for_data_dir(world.settings.secrets_dir).open(stored[1]) == sk
    page = console.get(f"/console/api/projects/{world.project_id}").json()
    assert ak in {k["access_key"] for k in page["keys"]}
    assert sk not in str(page)  # never shown again

    other, _ = world.new_project("other")
    refused(console, f"projects/{other}/keys/{ak}/revoke", None, 404, "SMN.0024")  # not its key
    post(console, f"projects/{world.project_id}/keys/{ak}/revoke")
    assert world.store.access_key(ak) is None
    refused(console, f"projects/{world.project_id}/keys/{ak}/revoke", None, 404, "SMN.0024")


def test_signatures_are_created_approved_and_rejected_with_a_reason(console: TestClient, world: World) -> None:
    created = post(console, f"projects/{world.project_id}/signs", {"name": "新品牌", "type": "promotional"})
    assert created["status"] == "pending"
    sign_id = created["id"]
    assert world.store.require_sign(world.project_id, sign_id).status == SignStatus.PENDING

    assert post(console, f"projects/{world.project_id}/signs/{sign_id}/approve")["status"] == "approved"
    assert world.store.require_sign(world.project_id, sign_id).status == SignStatus.APPROVED

    rejected = post(console, f"projects/{world.project_id}/signs/{sign_id}/reject",
                    {"reason_code": "TRADEMARK", "note": "belongs to another company"})
    sign = world.store.require_sign(world.project_id, sign_id)
    assert sign.status == SignStatus.REJECTED and sign.reply == "TRADEMARK: belongs to another company"
    assert rejected["reply"] == sign.reply

    refused(console, f"projects/{world.project_id}/signs/{sign_id}/reject", {"reason_code": "BORED"}, 400, "SMN.0024")
    refused(console, f"projects/{world.project_id}/signs", {"name": "x"}, 400, "SMN.0081")
    refused(console, f"projects/{world.project_id}/signs/{'a' * 32}/approve", None, 404, "SMN.0084")
    reasons = console.get("/console/api/meta").json()["reject_reasons"]
    assert "TRADEMARK" in reasons and "OTHER" in reasons


def test_the_lexicon_is_edited_and_a_text_tested(console: TestClient, world: World) -> None:
    path = f"projects/{world.project_id}/words"
    assert post(console, path, {"words": ["秒杀神器", " 秒杀神器 ", "暴富"]})["words"] == ["暴富", "秒杀神器"]
    assert world.store.words(world.project_id) == ["暴富", "秒杀神器"]

    tested = post(console, f"{path}/test", {"text": "今天 秒 杀 神 器 上线，还有代开发票，拒收请回复R"})
    assert tested["refused_for"] == "秒杀神器"
    assert [(m["word"], m["position"], m["source"]) for m in tested["matches"]] == [
        ("秒杀神器", 3, "project"), ("代开发票", 16, "built-in")]
    assert post(console, f"{path}/test", {"text": "双十一全场五折，拒收请回复R"}) == {"matches": [], "refused_for": None}

    assert post(console, f"{path}/remove", {"words": ["秒杀神器"]})["words"] == ["暴富"]
    assert world.store.words(world.project_id) == ["暴富"]
    assert post(console, f"{path}/test", {"text": "秒杀神器"})["matches"] == []
    refused(console, path, {"words": ["  "]}, 400, "SMN.0024")


def test_opt_outs_are_listed_added_and_removed(console: TestClient, world: World) -> None:
    path = f"projects/{world.project_id}/optouts"
    assert post(console, path, {"sign_id": world.sign_id, "numbers": ["13800138000", "+8613900139000"]})["added"] == 2
    listed = console.get(f"/console/api/{path}").json()
    assert listed["count"] == 2
    assert {(o["e164"], o["sign_name"]) for o in listed["optouts"]} == {("+8613800138000", "阿克米"), ("+8613900139000", "阿克米")}
    one = console.get(f"/console/api/{path}", params={"number": "13900139000"}).json()
    assert [o["e164"] for o in one["optouts"]] == ["+8613900139000"]

    assert post(console, f"{path}/remove", {"sign_id": world.sign_id, "number": "86 13800138000".replace(" ", "")})["removed"]
    rows = world.store.db.execute("SELECT e164 FROM optouts WHERE project_id=?", (world.project_id,)).fetchall()
    assert [r[0] for r in rows] == ["+8613900139000"]
    assert not post(console, f"{path}/remove", {"sign_id": world.sign_id, "number": "13800138000"})["removed"]
    refused(console, path, {"sign_id": world.sign_id, "numbers": ["12345"]}, 400, "SMN.0012")
    refused(console, path, {"sign_id": "b" * 32, "numbers": ["13800138000"]}, 404, "SMN.0084")


def test_callback_subscriptions_are_viewed_and_set(console: TestClient, world: World, dns: FakeDns) -> None:
    dns.names["hooks.example"] = ["93.184.215.14"]  # a public address (never connected to)
    path = f"projects/{world.project_id}/callbacks"
    body = {"callback": [{"event_type": "sms_success_event", "topic_urn": "https://hooks.example/ok"},
                         {"event_type": "sms_fail_event", "topic_urn": "https://hooks.example/fail"}]}
    set_ = post(console, path, body, method="PUT")
    assert set_["callbacks"] == {"sms_fail_event": "https://hooks.example/fail", "sms_success_event": "https://hooks.example/ok"}
    outbox = OutboxStore(world.store.db)
    assert dict(outbox.subscriptions(world.project_id)) == set_["callbacks"]
    assert outbox.sealed_secret(world.project_id) is not None  # a signing key, as the API makes one

    post(console, path, {"callback": [{"event_type": "sms_fail_event", "topic_urn": ""}]}, method="PUT")
    assert console.get(f"/console/api/{path}").json()["callbacks"] == {"sms_success_event": "https://hooks.example/ok"}
    refused(console, path, {"callback": [{"event_type": "sms_success_event", "topic_urn": "ftp://x"}]}, 400, "SMN.0005", "PUT")
    refused(console, path, {"callback": [{"event_type": "sms_birthday", "topic_urn": ""}]}, 400, "SMN.0100", "PUT")


def test_the_console_sets_and_shows_batched_delivery(console: TestClient, world: World, dns: FakeDns) -> None:
    dns.names["hooks.example"] = ["93.184.215.14"]
    path = f"projects/{world.project_id}/callbacks"
    body = {"callback": [{"event_type": "sms_success_event", "topic_urn": "https://hooks.example/ok",
                          "batch": {"max_events": 50}},
                         {"event_type": "sms_fail_event", "topic_urn": "https://hooks.example/fail"}]}
    set_ = post(console, path, body, method="PUT")
    assert set_["batches"] == {"sms_success_event": {"max_events": 50, "max_wait_ms": 1000}}
    assert console.get(f"/console/api/projects/{world.project_id}").json()["batches"] == set_["batches"]
    refused(console, path, {"callback": [{"event_type": "sms_success_event", "topic_urn": "https://hooks.example/ok",
                                          "batch": {"max_events": 5000}}]}, 400, "SMN.0024", "PUT")
    post(console, path, {"callback": [{"event_type": "sms_success_event", "topic_urn": "https://hooks.example/ok"}]},
         method="PUT")
    assert console.get(f"/console/api/{path}").json()["batches"] == {}


@pytest.mark.parametrize("urn", INTERNAL_TARGETS)
def test_the_console_cannot_aim_callbacks_inside_the_network(console: TestClient, world: World, dns: FakeDns,
                                                             urn: str) -> None:
    """The console's form asks the same check as the API's PUT."""
    internal_names(dns)
    path = f"projects/{world.project_id}/callbacks"
    answer = refused(console, path, {"callback": [{"event_type": "sms_reply_event", "topic_urn": urn}]}, 400,
                     "SMN.0005", "PUT")
    assert "public address" in answer["message"]
    assert console.get(f"/console/api/{path}").json()["callbacks"] == {}
