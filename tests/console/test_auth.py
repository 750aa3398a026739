"""The console's gate: operators, passwords, session cookies, CSRF, and every route behind it."""

from __future__ import annotations

import logging
import re
import time

import pytest
from cryptography.fernet import Fernet
from starlette.testclient import TestClient

from smsgate.app import create_app
from smsgate.config import Settings
from smsgate.auth import audit
from smsgate.auth.secrets import SecretBox
from smsgate.console import auth
from smsgate.store import operators
from smsgate.console.routes import api_routes
from smsgate.domain import admin as rules
from smsgate.domain import errors
from smsgate.logs import JsonFormatter
from tests.conftest import World, make_world
from tests.console.conftest import CSRF, OPERATOR, PASSWORD

HEX = "0" * 32


def _path(template: str) -> str:
    """A concrete path for a route template (any id will do: the session check comes first)."""
    return re.sub(r"\{[a-z_]+\}", HEX, template)


def test_passwords_are_scrypt_hashes_with_their_cost() -> None:
    encoded = auth.hash_password("s3cret-pass")
    assert encoded.startswith(f"scrypt${auth.SCRYPT_N}${auth.SCRYPT_R}${auth.SCRYPT_P}$")
    assert "s3cret-pass" not in encoded
    assert auth.verify_password("s3cret-pass", encoded)
    assert not auth.verify_password("s3cret-pasS", encoded)
    assert auth.hash_password("s3cret-pass") != encoded  # salted
    assert not auth.verify_password("x", "md5$abc")
    assert not auth.verify_password("x", "not a hash")


def test_every_console_api_route_but_login_refuses_without_a_session(anon: TestClient) -> None:
    checked = 0
    for route in api_routes():
        if route.path == "/api/login":
            continue
        for method in route.methods - {"HEAD"}:
            r = anon.request(method, "/console" + _path(route.path), headers=CSRF, json={})
            assert r.status_code == 401, (method, route.path, r.text)
            body = r.json()
            assert body["code"] == "SMN.0001" and body["request_id"] and body["message"]
            checked += 1
    assert checked >= 20


def test_the_page_itself_is_served_without_a_session_and_locked_down(anon: TestClient) -> None:
    r = anon.get("/console", follow_redirects=True)
    assert r.status_code == 200 and r.url.path == "/console/"
    assert "text/html" in r.headers["content-type"]
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    for asset in ("app.js", "charts.js", "style.css"):
        served = anon.get(f"/console/static/{asset}")
        assert served.status_code == 200 and len(served.text) > 500
        urls = set(re.findall(r"https?://[^\s\"'`)]*", served.text))
        assert urls <= {"http://www.w3.org/2000/svg", "https://…"}, urls  # nothing from a CDN
    assert not re.findall(r"(?:src|href)=\"(?:https?:)?//", r.text)
    assert anon.get("/console/static/missing.js").status_code == 404


def test_login_sets_a_strict_httponly_cookie_for_the_console_only(anon: TestClient, world: World) -> None:
    r = anon.post("/console/api/login", json={"name": OPERATOR, "password": PASSWORD}, headers=CSRF)
    assert r.status_code == 200 and r.json()["operator"] == OPERATOR
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{auth.SESSION_COOKIE}=")
    for attribute in ("HttpOnly", "Path=/console", "SameSite=strict", f"Max-Age={int(world.settings.console_session_hours * 3600)}"):
        assert attribute in cookie
    assert PASSWORD not in cookie and OPERATOR not in cookie  # sealed, not just signed
    assert anon.get("/console/api/session").json()["operator"] == OPERATOR


def test_a_login_lasts_as_long_as_the_settings_say(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSGATE_CONSOLE_SESSION_HOURS", "2")
    world = make_world(tmp_path / "data", console_session_hours=Settings.from_env().console_session_hours)
    operators.add_operator(world.store.db, OPERATOR, auth.hash_password(PASSWORD))
    with TestClient(create_app(world.settings)) as client:
        r = client.post("/console/api/login", json={"name": OPERATOR, "password": PASSWORD}, headers=CSRF)
    assert "Max-Age=7200" in r.headers["set-cookie"]
    assert r.json()["expires_at"] - int(time.time() * 1000) in range(7_100_000, 7_200_001)


@pytest.mark.parametrize("name, password", [(OPERATOR, "wrong password"), ("mallory", PASSWORD), ("", "")])
def test_a_wrong_name_or_password_is_refused_alike(anon: TestClient, name: str, password: str) -> None:
    r = anon.post("/console/api/login", json={"name": name, "password": password}, headers=CSRF)
    assert r.status_code == 401
    assert r.json()["code"] == "SMN.0001" and r.json()["message"] == "Wrong operator name or password."
    assert "set-cookie" not in r.headers
    assert anon.get("/console/api/session").status_code == 401


def test_login_needs_the_csrf_header_too(anon: TestClient) -> None:
    r = anon.post("/console/api/login", json={"name": OPERATOR, "password": PASSWORD})
    assert r.status_code == 403 and "set-cookie" not in r.headers


def test_changes_need_the_csrf_header_and_this_origin(console: TestClient, world: World) -> None:
    path = "/console/api/projects"
    assert console.post(path, json={"name": "x"}).status_code == 403
    assert console.post(path, json={"name": "x"}, headers={"X-Smsgate-Console": "0"}).status_code == 403
    evil = {**CSRF, "Origin": "https://evil.example"}
    r = console.post(path, json={"name": "x"}, headers=evil)
    assert r.status_code == 403 and r.json()["code"] == "SMN.0001"
    assert console.post(path, json={"name": "x"}, headers={**CSRF, "Origin": "null"}).status_code == 403
    assert len(world.store.db.execute("SELECT id FROM projects").fetchall()) == 1  # none created
    ok = console.post(path, json={"name": "x"}, headers={**CSRF, "Origin": "http://testserver"})
    assert ok.status_code == 201
    assert console.get(path).status_code == 200  # reads need no header


def test_logout_ends_the_session(console: TestClient) -> None:
    r = console.post("/console/api/logout", headers=CSRF)
    assert r.status_code == 200
    assert 'smsgate_console=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
    assert console.get("/console/api/session").status_code == 401


def test_a_forged_or_foreign_cookie_is_refused(anon: TestClient, world: World) -> None:
    anon.cookies.set(auth.SESSION_COOKIE, "gAAAAA-not-a-session", path="/console")
    assert anon.get("/console/api/session").status_code == 401
    other_key = SecretBox(Fernet.generate_key())  # another installation's master key
    cookie, _ = auth.Sessions(other_key, ttl_ms=3_600_000).issue(OPERATOR, operators.operator_hash(world.store.db, OPERATOR), 0)
    anon.cookies.set(auth.SESSION_COOKIE, cookie, path="/console")
    assert anon.get("/console/api/session").status_code == 401


def test_sessions_expire() -> None:
    sessions = auth.Sessions(SecretBox(Fernet.generate_key()), ttl_ms=1000)
    cookie, session = sessions.issue("alice", "scrypt$hash", now=5000)
    assert session.expires_at == 6000
    current = {"alice": "scrypt$hash"}.get
    assert sessions.open(cookie, 5999, current) == session
    assert sessions.open(cookie, 6000, current) is None
    assert sessions.open(cookie, 5999, {"alice": "scrypt$other"}.get) is None  # password changed
    assert sessions.open(cookie, 5999, {}.get) is None  # operator deleted


def test_changing_the_password_or_deleting_the_operator_ends_open_sessions(console: TestClient, world: World) -> None:
    assert console.get("/console/api/session").status_code == 200
    operators.set_operator_password(world.store.db, OPERATOR, auth.hash_password("another password"))
    assert console.get("/console/api/session").status_code == 401
    r = console.post("/console/api/login", json={"name": OPERATOR, "password": "another password"}, headers=CSRF)
    assert r.status_code == 200
    assert console.get("/console/api/session").status_code == 200
    assert operators.delete_operator(world.store.db, OPERATOR)
    assert console.get("/console/api/session").status_code == 401


def test_failed_logins_are_throttled_per_address_and_operator(world: World, operator: str) -> None:
    """Someone guessing at alice's password from one address waits; alice, logging in from her
    own address, is not locked out by it, nor is bob from the guesser's address."""
    app = create_app(world.settings)
    with TestClient(app, client=("203.0.113.9", 40000)) as guesser:
        app.state.console_sessions = None  # fresh issuer and throttle
        for _ in range(10):
            bad = guesser.post("/console/api/login", json={"name": OPERATOR, "password": "guess"},
                               headers=CSRF)
            assert bad.status_code == 401
        r = guesser.post("/console/api/login", json={"name": OPERATOR, "password": PASSWORD}, headers=CSRF)
        assert r.status_code == 429 and r.json()["code"] == "SMN.0001"
        operators.add_operator(world.store.db, "bob", auth.hash_password(PASSWORD))
        other = guesser.post("/console/api/login", json={"name": "bob", "password": PASSWORD}, headers=CSRF)
        assert other.status_code == 200  # only the guessed-at name waits
        alice = TestClient(app, client=("198.51.100.7", 40001))  # the same server, another address
        r = alice.post("/console/api/login", json={"name": OPERATOR, "password": PASSWORD}, headers=CSRF)
        assert r.status_code == 200, r.text


def test_failed_logins_are_logged_without_the_password(
        world: World, operator: str, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "login_failed", audit.RefusalLog("console_login_failed"))
    with TestClient(create_app(world.settings), client=("203.0.113.9", 40000)) as c, \
            caplog.at_level(logging.WARNING, logger="smsgate.auth"):
        c.post("/console/api/login", json={"name": OPERATOR, "password": "hunter2-guess"}, headers=CSRF)
        c.post("/console/api/login", json={"name": "nobody", "password": "hunter3-guess"}, headers=CSRF)
    records = [r for r in caplog.records if r.getMessage() == "console_login_failed"]
    assert [(r.operator, r.client, r.reason) for r in records] == [
        (OPERATOR, "203.0.113.9", "wrong password"), ("nobody", "203.0.113.9", "unknown operator")]
    assert not any("hunter" in JsonFormatter().format(r) for r in records)


def test_operator_rows(world: World) -> None:
    assert operators.add_operator(world.store.db, "carol", "scrypt$x")
    assert not operators.add_operator(world.store.db, "carol", "scrypt$y")
    assert operators.operator_hash(world.store.db, "carol") == "scrypt$x"
    assert [n for n, _ in operators.list_operators(world.store.db)] == ["carol"]
    assert operators.delete_operator(world.store.db, "carol")
    assert not operators.delete_operator(world.store.db, "carol")
    with pytest.raises(errors.BadRequest):
        rules.operator_name("bad name")
