"""Refused credentials: one 401 for an unknown access key and a wrong signature, and a log line
for each refusal, without secrets and rate-limited."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from smsgate.app import create_app
from smsgate.auth import audit
from smsgate.auth.sdk_hmac import sign_request
from smsgate.auth.secrets import new_access_key, new_secret_key
from smsgate.logs import JsonFormatter
from tests.conftest import World

_dates = iter(range(1, 10_000))


def signed(world: World, path: str, access_key: str, secret_key: str) -> dict[str, str]:
    headers = {"Host": "testserver"}
    date = datetime.now(UTC) - timedelta(seconds=next(_dates) % 600)
    return headers | sign_request("GET", f"http://testserver{path}", headers, b"", access_key, secret_key,
                                  date=date)


@pytest.fixture
def bare(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings)) as c:
        yield c


@pytest.fixture(autouse=True)
def fresh_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with full rate-limit buckets."""
    for name in ("signature_refused", "token_refused"):
        monkeypatch.setattr(audit, name, audit.RefusalLog(name))


def test_an_unknown_access_key_and_a_wrong_signature_are_refused_alike(bare: TestClient, world: World) -> None:
    path = f"/v2/{world.project_id}/notifications/sms_sign"
    unknown = bare.get(path, headers=signed(world, path, new_access_key(), new_secret_key()))
    wrong = bare.get(path, headers=signed(world, path, world.access_key, "not-the-secret"))
    world.store.revoke_access_key(world.access_key)
    revoked = bare.get(path, headers=signed(world, path, world.access_key, world.secret_key))
    answers = {(r.status_code, r.json()["error_code"], r.json()["error_msg"])
               for r in (unknown, wrong, revoked)}
    assert len(answers) == 1
    [(status, code, message)] = answers
    assert (status, code) == (401, "APIGW.0301") and "access key or the signature" in message


def test_refused_signatures_and_tokens_are_logged_without_secrets(
        bare: TestClient, world: World, caplog: pytest.LogCaptureFixture) -> None:
    path = f"/v2/{world.project_id}/notifications/sms_sign"
    bad = signed(world, path, world.access_key, "wrong-secret-key-1234")
    unknown_ak = new_access_key()
    with caplog.at_level(logging.WARNING, logger="smsgate.auth"):
        assert bare.get(path, headers=bad).status_code == 401
        assert bare.get(path, headers=signed(world, path, unknown_ak, "x")).status_code == 401
        assert bare.get(path, headers={"X-Auth-Token": "MIbogus-token-value"}).status_code == 403
    records = [r for r in caplog.records if r.name == "smsgate.auth"]
    assert [r.getMessage() for r in records] == ["signature_refused", "signature_refused", "token_refused"]
    assert (records[0].access_key, records[0].reason) == (world.access_key, "signature mismatch")
    assert records[1].access_key == unknown_ak and "unknown access key" in records[1].reason
    assert records[0].client and records[0].path == path
    lines = "\n".join(JsonFormatter().format(r) for r in records)
    signature = bad["Authorization"].rsplit("Signature=", 1)[1]
    for secret in (world.secret_key, "wrong-secret-key-1234", signature, "MIbogus-token-value", world.token):
        assert secret not in lines


def test_refusals_are_logged_at_most_ten_a_minute_then_counted(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    clock = [1000.0]
    monkeypatch.setattr(audit.time, "monotonic", lambda: clock[0])
    refusals = audit.RefusalLog("signature_refused")
    with caplog.at_level(logging.WARNING, logger="smsgate.auth"):
        for _ in range(25):
            refusals(reason="signature mismatch", access_key="AK")
        assert len(caplog.records) == 10
        clock[0] += 6.0  # a minute's tenth: one line more is let through, with the count held back
        refusals(reason="signature mismatch", access_key="AK")
        refusals(reason="signature mismatch", access_key="AK")
    assert len(caplog.records) == 11 and caplog.records[-1].suppressed == 15


def test_a_flood_of_bad_signatures_logs_a_bounded_number_of_lines(
        bare: TestClient, world: World, caplog: pytest.LogCaptureFixture) -> None:
    path = f"/v2/{world.project_id}/notifications/sms_sign"
    with caplog.at_level(logging.WARNING, logger="smsgate.auth"):
        for _ in range(40):
            assert bare.get(path, headers=signed(world, path, world.access_key, "wrong")).status_code == 401
    assert 1 <= len([r for r in caplog.records if r.name == "smsgate.auth"]) <= 10
