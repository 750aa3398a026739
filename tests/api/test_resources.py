"""Signatures, tokens, health and the OpenAPI document."""

from __future__ import annotations

from starlette.testclient import TestClient

from smsgate.auth.sdk_hmac import sign_request
from smsgate.domain.records import SignStatus, SignType
from tests.conftest import World, item


def signed(world: World, method: str, path: str, body: bytes = b"", secret: str | None = None) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Host": "testserver"}
    headers.update(
        sign_request(method, f"http://testserver{path}", headers, body, world.access_key, secret or world.secret_key)
    )
    return headers


def test_list_signatures(client: TestClient, world: World) -> None:
    pending = world.add_sign("待审", SignType.NOTIFICATION, SignStatus.PENDING)
    r = client.get(f"/v2/{world.project_id}/notifications/sms_sign")
    assert r.status_code == 200
    body = r.json()
    assert body["sms_sign_count"] == 2
    by_id = {s["sign_id"]: s for s in body["sms_signs"]}
    assert by_id[world.sign_id] | {"create_time": None} == {
        "sign_id": world.sign_id, "sign_name": "阿克米", "sign_type": 1, "status": 3,
        "reply": "", "create_time": None,
    }
    assert (by_id[pending]["sign_type"], by_id[pending]["status"]) == (0, 0)
    assert by_id[pending]["create_time"].endswith("Z")


def test_delete_signature_then_sending_with_it_is_refused(client: TestClient, world: World) -> None:
    r = client.delete(f"/v2/{world.project_id}/notifications/sms_sign/{world.sign_id}")
    assert r.status_code == 200 and r.json()["request_id"] == r.headers["X-Request-Id"]
    r = client.post(world.promotion_path, json={"sms_message": [item(sign_id=world.sign_id)]})
    assert r.json()["result"][0]["code"] == "SMN.0194"
    r = client.delete(f"/v2/{world.project_id}/notifications/sms_sign/{'f' * 32}")
    assert r.status_code == 404 and r.json()["code"] == "SMN.0084"


def test_signatures_of_another_project_are_invisible(client: TestClient, world: World) -> None:
    other_id, other_token = world.new_project("rival")
    r = client.get(f"/v2/{other_id}/notifications/sms_sign", headers={"X-Auth-Token": other_token})
    assert r.json()["sms_sign_count"] == 0
    r = client.delete(f"/v2/{other_id}/notifications/sms_sign/{world.sign_id}", headers={"X-Auth-Token": other_token})
    assert r.status_code == 404
    assert world.store.require_sign(world.project_id, world.sign_id).status == SignStatus.APPROVED


def test_aksk_signed_requests_are_verified(client: TestClient, world: World) -> None:
    path = f"/v2/{world.project_id}/notifications/sms_sign"
    bare = TestClient(client.app)
    assert bare.get(path, headers=signed(world, "GET", path)).status_code == 200
    r = bare.get(path, headers=signed(world, "GET", path, secret="wrong"))
    assert r.status_code == 401 and r.json()["error_code"] == "APIGW.0301"
    headers = signed(world, "GET", path) | {"X-Project-Id": "someone-else"}
    assert bare.get(path, headers=headers).status_code in (401, 403)


def test_revoked_key_is_refused_at_once(client: TestClient, world: World) -> None:
    path = f"/v2/{world.project_id}/notifications/sms_sign"
    bare = TestClient(client.app)
    world.store.revoke_access_key(world.access_key)
    assert bare.get(path, headers=signed(world, "GET", path)).status_code == 401


def test_token_endpoint_needs_aksk(client: TestClient, world: World) -> None:
    bare = TestClient(client.app)
    r = bare.post("/v3/auth/tokens", headers=signed(world, "POST", "/v3/auth/tokens"))
    assert r.status_code == 201
    token = r.headers["X-Subject-Token"]
    assert r.json()["token"]["project"]["id"] == world.project_id
    assert bare.get(f"/v2/{world.project_id}/notifications/sms_sign", headers={"X-Auth-Token": token}).status_code == 200
    # a token cannot mint another token
    r = bare.post("/v3/auth/tokens", headers={"X-Auth-Token": token})
    assert r.status_code == 401


def test_health_reports_the_store(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "store": "ok"}


def test_health_is_503_when_the_store_is_gone(client: TestClient) -> None:
    client.app.state.smsgate.reader.db.close()
    r = client.get("/healthz")
    assert r.status_code == 503 and r.json()["store"] == "down"


def test_openapi_describes_every_route(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    routes = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    served = set()
    for route in client.app.routes:
        if route.path == "/console":  # the operators' web console, not part of SMN's API
            continue
        for method in route.methods - {"HEAD"}:
            served.add((route.path, method.lower()))
    assert served == routes
    schema = doc["components"]["schemas"]["SmsMessage"]
    assert set(schema["required"]) == {"endpoint", "message"}


def test_metrics_count_requests_and_items(client: TestClient, world: World) -> None:
    items = [item("13800138000", sign_id=world.sign_id), item("123", sign_id=world.sign_id),
             item("13800138001", text="没有退订说明", sign_id=world.sign_id)]
    client.post(world.promotion_path, json={"sms_message": items})
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert "smsgate_messages_accepted_total 1.0" in text
    assert 'smsgate_messages_refused_total{code="SMN.0012"} 1.0' in text
    assert 'smsgate_messages_refused_total{code="SMN.0204"} 1.0' in text
    assert 'smsgate_http_requests_total{route="send_promotion",status="200"} 1.0' in text
    assert 'smsgate_queue_depth{state="due"} 1.0' in text or 'smsgate_queue_depth{state="held"} 1.0' in text
    assert 'state="DELIVERED"' not in text
