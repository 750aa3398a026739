"""Bad input of every kind gets a 4xx with an SMN code and X-Request-Id, and stores nothing."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from tests.conftest import World, item


def assert_refused(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code
    assert body["request_id"] == r.headers["X-Request-Id"]
    assert body["message"]
    return body


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"not json",
        b"[]",
        b'"text"',
        b"null",
        b'{"sms_message": "x"}',
        b'{"sms_message": {"endpoint": "1"}}',
        b'{"sms_message": [], "extra": 1}',
        b'{"sms_messages": []}',
        b"{}",
        b"",
        b'{"sms_message": [{"endpoint": "13800138000", "message": "\xff\xfe"}]}',  # not UTF-8
    ],
)
def test_malformed_bodies(client: TestClient, world: World, raw: bytes) -> None:
    r = client.post(world.promotion_path, content=raw, headers={"Content-Type": "application/json"})
    assert_refused(r, 400, "SMN.0024")
    assert world.store.count_messages() == 0


@pytest.mark.parametrize("count", [0, 1000, 5000])
def test_item_count_outside_1_to_999_refuses_the_whole_batch(client: TestClient, world: World, count: int) -> None:
    items = [item(f"138{i:08d}", sign_id=world.sign_id) for i in range(count)]
    r = client.post(world.promotion_path, json={"sms_message": items})
    assert_refused(r, 400, "SMN.0159")
    assert world.store.count_messages() == 0


def test_999_items_are_accepted(client: TestClient, world: World) -> None:
    items = [item(f"138{i:08d}", sign_id=world.sign_id) for i in range(999)]
    r = client.post(world.promotion_path, json={"sms_message": items})
    assert r.status_code == 200
    assert world.store.count_messages() == 999


def test_oversize_body_is_413_without_reading_it_all(client: TestClient, world: World) -> None:
    limit = world.settings.max_body_bytes
    r = client.post(world.promotion_path, content=b" " * (limit + 1),
                    headers={"Content-Type": "application/json"})
    body = assert_refused(r, 413, "SMN.0024")
    assert str(limit) in body["message"]


def test_wrong_content_type_is_415(client: TestClient, world: World) -> None:
    r = client.post(world.promotion_path, content=b"sms_message=1",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_refused(r, 415, "SMN.0024")


def test_charset_parameter_is_accepted(client: TestClient, world: World) -> None:
    import json

    r = client.post(world.promotion_path,
                    content=json.dumps({"sms_message": [item(sign_id=world.sign_id)]}).encode(),
                    headers={"Content-Type": "application/json; charset=UTF-8"})
    assert r.status_code == 200 and "message_id" in r.json()["result"][0]


def test_absurd_strings_are_refused_per_item_and_echo_is_bounded(client: TestClient, world: World) -> None:
    items = [
        item("1" * 100_000, sign_id=world.sign_id),
        item("13800138000", text="惠" * 200_000, sign_id=world.sign_id),
        item("13800138001", sign_id="x" * 100_000),
        item("13800138002", sign_id=world.sign_id),
    ]
    r = client.post(world.promotion_path, json={"sms_message": items})
    results = r.json()["result"]
    assert [x.get("code") for x in results[:3]] == ["SMN.0012", "SMN.0009", "SMN.0080"]
    assert len(results[0]["endpoint"]) <= 64
    assert "message_id" in results[3]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_nul_character_refuses_its_item_only_on_either_engine(client: TestClient, world: World) -> None:
    items = [item("13800138000", text="双十一\x00全场五折，拒收请回复R", sign_id=world.sign_id),
             item("13800138001", sign_id=world.sign_id, extend_code="a\x00b"),
             item("13800138002", sign_id=world.sign_id)]
    r = client.post(world.promotion_path, json={"sms_message": items})
    assert r.status_code == 200, r.text
    results = r.json()["result"]
    assert [x.get("code") for x in results] == ["SMN.0009", "SMN.0231", None]
    assert "NUL" in results[0]["message"] and world.store.count_messages() == 1


def test_unknown_route_and_method(client: TestClient, world: World) -> None:
    assert_refused(client.get("/v2/nope"), 404, "APIGW.0101")
    assert_refused(client.get(world.promotion_path), 405, "APIGW.0101")


def test_missing_credentials_is_401_in_the_gateway_shape(client: TestClient, world: World) -> None:
    r = client.post(world.promotion_path, json={"sms_message": [item()]}, headers={"X-Auth-Token": ""})
    # an empty token is a token, and a bad one
    assert r.status_code == 403 and r.json()["code"] == "SMN.0001"
    bare = TestClient(client.app)
    r = bare.post(world.promotion_path, json={"sms_message": [item()]})
    assert r.status_code == 401
    body = r.json()
    assert body["error_code"] == "APIGW.0301" and body["request_id"] == r.headers["X-Request-Id"]


def test_expired_token_is_refused(client: TestClient, world: World) -> None:
    from smsgate.auth.secrets import token_hash

    world.store.add_token(token_hash("old-token"), world.project_id, 1)
    r = client.post(world.promotion_path, json={"sms_message": [item()]}, headers={"X-Auth-Token": "old-token"})
    assert_refused(r, 403, "SMN.0001")


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    for r in (client.get("/healthz"), client.get("/openapi.json"), client.get("/nope")):
        assert len(r.headers["X-Request-Id"]) == 32


def test_a_failing_store_answers_503_and_keeps_nothing(client: TestClient, world: World) -> None:
    state = client.app.state.smsgate
    state.writer.db.execute("PRAGMA query_only=ON")  # every write now fails, as on a full disk
    r = client.post(world.promotion_path, json={"sms_message": [item(sign_id=world.sign_id)]})
    assert_refused(r, 503, "SMN.0018")
    state.writer.db.execute("PRAGMA query_only=OFF")
    assert world.store.count_messages() == 0
    r = client.post(world.promotion_path, json={"sms_message": [item(sign_id=world.sign_id)]})
    assert r.status_code == 200 and world.store.count_messages() == 1


def test_a_number_beyond_a_double_refuses_its_item_only(client: TestClient, world: World) -> None:
    good = json.dumps(item("13800138003", sign_id=world.sign_id), ensure_ascii=False)
    raw = ('{"sms_message": ['
           '{"endpoint": "13800138000", "message": 1e400},'
           '{"endpoint": -1e400, "message": "x"},'
           '{"endpoint": "13800138002", "message": "x", "extend_code": 1E+999999},'
           f'{good}]}}').encode()
    r = client.post(world.promotion_path, content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    results = r.json()["result"]
    assert [x.get("code") for x in results] == ["SMN.0009", "SMN.0012", "SMN.0231", None]
    assert [x["endpoint"] for x in results] == ["13800138000", "-1e400", "13800138002", "13800138003"]
    assert world.store.count_messages() == 1


def test_a_number_beyond_a_double_outside_the_items_refuses_the_batch(client: TestClient, world: World) -> None:
    raw = b'{"sms_message": [{"endpoint": "13800138000", "message": "x"}], "sign_id": 1e400}'
    r = client.post(world.promotion_path, content=raw, headers={"Content-Type": "application/json"})
    assert_refused(r, 400, "SMN.0024")


DEEP = 1_000  # the depth seen to end in a 500
DEEPER = 200_000  # beyond any interpreter's recursion limit


@pytest.mark.parametrize("depth", [DEEP, DEEPER])
@pytest.mark.parametrize("where", ["message", "unknown field", "the item itself", "beside the items"])
def test_arrays_nested_deep_are_a_client_error(client: TestClient, world: World, depth: int, where: str) -> None:
    deep = "[" * depth + "]" * depth
    good = json.dumps(item("13800138001", sign_id=world.sign_id), ensure_ascii=False)
    bad = {"message": f'{{"endpoint": "13800138000", "message": {deep}}}',
           "unknown field": f'{{"endpoint": "13800138000", "message": "x", "extra": {deep}}}',
           "the item itself": deep}.get(where)
    raw = (f'{{"sms_message": [{bad}, {good}]}}' if bad is not None
           else f'{{"sms_message": [{good}], "endpoints": {deep}}}').encode()
    r = client.post(world.promotion_path, content=raw, headers={"Content-Type": "application/json"})
    if r.status_code == 200:  # an interpreter whose decoder reaches this deep: refused per item
        assert r.json()["result"][0]["code"].startswith("SMN.") and world.store.count_messages() == 1
    else:
        body = assert_refused(r, 400, "SMN.0024")
        assert bad is None or "nested too deeply" in body["message"]
        assert world.store.count_messages() == 0

