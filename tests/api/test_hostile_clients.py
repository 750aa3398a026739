"""Clients that misbehave on the wire, against the real server (uvicorn, as ``serve`` runs it):
nobody unauthenticated makes it read a body, slow heads and bodies are cut off, connections
past the cap get a 503, and a client that vanishes mid-body is no server error."""

from __future__ import annotations

import dataclasses
import http.client
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from smsgate.app import create_app
from smsgate.api.server import MAX_HEAD_BYTES, uvicorn_config
from smsgate.auth.sdk_hmac import sign_request
from tests.conftest import World, item

WAIT_S = 10.0  # the longest any test here waits for the server to do what it must


@dataclasses.dataclass
class Running:
    port: int
    world: World

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=WAIT_S)
        return sock

    def requests_counted(self) -> dict[tuple[str, str], float]:
        """``smsgate_http_requests_total`` by (route, status), from /metrics."""
        text = httpx.get(f"{self.url}/metrics", timeout=WAIT_S).text
        return {(s.labels["route"], s.labels["status"]): s.value
                for family in text_string_to_metric_families(text) for s in family.samples
                if s.name == "smsgate_http_requests_total"}


@contextmanager
def running(world: World, **overrides: object) -> Iterator[Running]:
    """The API on an ephemeral loopback port, in a thread, configured as ``smsgate api`` is."""
    settings = dataclasses.replace(world.settings, host="127.0.0.1", port=0, **overrides)
    server = uvicorn.Server(uvicorn_config(create_app(settings), settings, log_config=None,
                                           timeout_keep_alive=30))
    thread = threading.Thread(target=server.run, name="uvicorn-under-test", daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), "the server to start")
    assert server.started, "the server did not start"
    try:
        yield Running(server.servers[0].sockets[0].getsockname()[1], world)
    finally:
        server.should_exit = True
        thread.join(WAIT_S)


def wait_for(condition: Callable[[], object], what: str, within: float = WAIT_S) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def head(path: str, headers: dict[str, str], method: str = "POST") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def response(sock: socket.socket) -> tuple[int, dict[str, str], dict]:
    """The next response on ``sock``: status, headers (lower-case names), JSON body."""
    answer = http.client.HTTPResponse(sock)
    answer.begin()
    body = answer.read()
    return answer.status, {k.lower(): v for k, v in answer.getheaders()}, json.loads(body) if body else {}


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed the connection (EOF or reset), waiting up to WAIT_S."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def json_headers(**more: str) -> dict[str, str]:
    return {"Host": "127.0.0.1", "Content-Type": "application/json", **more}


# --- nothing unauthenticated is read ---------------------------------------------------------


def _refusals(world: World, path: str, size: int) -> list[tuple[str, dict[str, str], int, str]]:
    body = b"x" * size  # only signed, never sent
    url = f"http://127.0.0.1{path}"
    stranger = sign_request("POST", url, {"Content-Type": "application/json"}, body,
                            "UNKNOWNACCESSKEY0000", "no-secret")
    stale = sign_request("POST", url, {"Content-Type": "application/json"}, body,
                         world.access_key, world.secret_key,
                         date=datetime.now(UTC) - timedelta(hours=1))
    return [
        ("no credentials", {}, 401, "APIGW.0301"),
        ("an unknown token", {"X-Auth-Token": "not-a-token"}, 403, "SMN.0001"),
        ("an unknown access key", stranger, 401, "APIGW.0301"),
        ("a known key signed an hour ago", stale, 401, "APIGW.0301"),
    ]


@pytest.mark.parametrize("case", range(4))
@pytest.mark.parametrize("expect_continue", [False, True])
def test_an_unauthenticated_request_is_refused_before_its_body_is_read(
    world: World, case: int, expect_continue: bool
) -> None:
    size = world.settings.max_body_bytes
    what, credentials, status, code = _refusals(world, world.promotion_path, size)[case]
    headers = json_headers(**{"Content-Length": str(size)}, **credentials)
    if expect_continue:
        headers["Expect"] = "100-continue"
    with running(world) as server, server.connect() as sock:
        sock.sendall(head(world.promotion_path, headers))  # and not one byte of the body
        got, answer_headers, body = response(sock)  # the answer comes without the body
        assert got == status, what
        assert (body.get("code") or body.get("error_code")) == code
        assert answer_headers["connection"] == "close"
        assert closed_by_server(sock)  # the body will never be read


def test_a_known_key_with_a_wrong_signature_is_refused_once_the_body_is_read(world: World) -> None:
    body = json.dumps({"sms_message": [item(sign_id=world.sign_id)]}).encode()
    signed = sign_request("POST", f"http://127.0.0.1{world.promotion_path}",
                          {"Content-Type": "application/json"}, b'{"other": "body"}',
                          world.access_key, world.secret_key)
    with running(world) as server:
        r = httpx.post(server.url + world.promotion_path, content=body,
                       headers={"Content-Type": "application/json", **signed}, timeout=WAIT_S)
        assert r.status_code == 401 and r.json()["error_code"] == "APIGW.0301"
        assert world.store.count_messages() == 0


def test_a_signed_request_with_its_body_is_accepted(world: World) -> None:
    body = json.dumps({"sms_message": [item(sign_id=world.sign_id)]}).encode()
    with running(world) as server:
        url = server.url + world.promotion_path
        signed = sign_request("POST", url, {"Content-Type": "application/json"}, body,
                              world.access_key, world.secret_key)
        r = httpx.post(url, content=body, headers={"Content-Type": "application/json", **signed},
                       timeout=WAIT_S)
        assert r.status_code == 200, r.text
        assert "message_id" in r.json()["result"][0]


def _signed_head(world: World, size: int, secret: str) -> bytes:
    signed = sign_request("POST", f"http://127.0.0.1{world.promotion_path}",
                          {"Content-Type": "application/json"}, b"x" * size, world.access_key, secret)
    return head(world.promotion_path, json_headers(**{"Content-Length": str(size),
                                                      "Expect": "100-continue"}, **signed))


def _continued(sock: socket.socket) -> bool:
    """Whether the server asks for the body (100 Continue): it has begun to read it."""
    return sock.recv(64).startswith(b"HTTP/1.1 100 ")


def test_a_known_access_key_without_its_secret_cannot_make_the_server_hold_bodies(world: World) -> None:
    """An access key is no secret; with it, bodies are read before the signature can be checked,
    but only so many bytes of them at once per key."""
    size = 100_000
    with running(world, unverified_bytes_per_key=2 * size) as server:
        held = [server.connect() for _ in range(2)]
        for sock in held:
            sock.sendall(_signed_head(world, size, "not-the-secret"))
            assert _continued(sock)
            sock.sendall(b"x" * 1000)  # and the rest never
        with server.connect() as third:
            third.sendall(_signed_head(world, size, "not-the-secret"))
            status, headers, body = response(third)  # at once, without the body
            assert (status, body["code"]) == (429, "APIGW.0308")
            assert headers["connection"] == "close"
        r = httpx.post(server.url + world.promotion_path, json={"sms_message": [item(sign_id=world.sign_id)]},
                       headers={"X-Auth-Token": world.token}, timeout=WAIT_S)
        assert r.status_code == 200  # other callers are not held up
        held.pop().close()  # one gives up: its bytes are freed

        def room() -> bool:
            with server.connect() as again:
                again.sendall(_signed_head(world, size, "not-the-secret"))
                return _continued(again)

        wait_for(room, "the key's allowance to have room again")
        for sock in held:
            sock.close()


# --- a client that vanishes ------------------------------------------------------------------


def test_a_client_gone_mid_body_is_a_quiet_client_error(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with running(world) as server:
        with server.connect() as sock:
            sock.sendall(head(world.promotion_path,
                              json_headers(**{"Content-Length": "100000", "X-Auth-Token": world.token})))
            sock.sendall(b'{"sms_message": [' + b" " * 1000)
        wait_for(lambda: any(route == "send_promotion" for route, _ in server.requests_counted()),
                 "the request to be counted")
        counted = server.requests_counted()
    assert {key: n for key, n in counted.items() if key[0] == "send_promotion"} == {("send_promotion", "400"): 1}
    assert not [key for key in counted if key[1].startswith("5")], counted
    gone = [r for r in caplog.records if r.getMessage() == "client_disconnected"]
    assert len(gone) == 1 and gone[0].levelno == logging.INFO
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert world.store.count_messages() == 0


# --- slow heads and bodies -------------------------------------------------------------------


def test_a_head_that_never_ends_is_cut_off(world: World) -> None:
    with running(world, header_timeout_s=0.5) as server, server.connect() as sock:
        sock.sendall(f"POST {world.promotion_path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
        status, _, body = response(sock)
        assert (status, body["code"]) == (408, "SMN.0024")
        assert closed_by_server(sock)


def test_a_head_trickled_a_byte_at_a_time_is_cut_off_all_the_same(world: World) -> None:
    """Each byte arriving does not restart the clock (slowloris)."""
    stop = threading.Event()
    with running(world, header_timeout_s=0.5) as server, server.connect() as sock:
        started = time.monotonic()

        def trickle() -> None:
            for byte in f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n{'X-Pad: a' * 1000}".encode():
                if stop.wait(0.05):  # the attacker's pace, not a synchronisation
                    return
                try:
                    sock.send(bytes([byte]))
                except OSError:
                    return

        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        try:
            status, _, body = response(sock)
        finally:
            stop.set()
            sender.join(WAIT_S)
        assert (status, body["code"]) == (408, "SMN.0024")
        assert time.monotonic() - started >= 0.5


def test_a_connection_that_sends_nothing_is_closed(world: World) -> None:
    with running(world, header_timeout_s=0.5) as server, server.connect() as sock:
        assert closed_by_server(sock)


def test_the_next_request_on_a_kept_alive_connection_has_the_same_deadline(world: World) -> None:
    with running(world, header_timeout_s=0.5) as server, server.connect() as sock:
        sock.sendall(head("/healthz", {"Host": "127.0.0.1"}, method="GET"))
        assert response(sock)[0] == 200
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and no more
        status, _, body = response(sock)
        assert (status, body["code"]) == (408, "SMN.0024")


def test_a_body_that_never_ends_is_cut_off(world: World) -> None:
    with running(world, body_timeout_s=0.5) as server:
        with server.connect() as sock:
            sock.sendall(head(world.promotion_path,
                              json_headers(**{"Content-Length": "1000", "X-Auth-Token": world.token})))
            sock.sendall(b'{"sms_message": [')
            status, headers, body = response(sock)
            assert (status, body["code"]) == (408, "SMN.0024")
            assert headers["connection"] == "close" and closed_by_server(sock)
        assert ("send_promotion", "408") in server.requests_counted()
    assert world.store.count_messages() == 0


def test_an_oversized_head_is_refused(world: World) -> None:
    with running(world) as server, server.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES + 1))
        status, _, body = response(sock)
        assert (status, body["code"]) == (431, "SMN.0024")


def test_what_is_not_http_is_answered_in_the_services_error_shape(world: World) -> None:
    with running(world) as server, server.connect() as sock:
        sock.sendall(b"\x16\x03\x01 this is not HTTP\r\n\r\n")
        status, _, body = response(sock)
        assert (status, body["code"]) == (400, "SMN.0024")


# --- the connection cap ----------------------------------------------------------------------


def test_a_request_on_a_connection_past_the_cap_gets_503(world: World) -> None:
    with running(world, max_connections=3) as server:
        held = [server.connect() for _ in range(3)]
        try:
            for sock in held:  # answered: the server holds each of them now
                sock.sendall(head("/healthz", {"Host": "127.0.0.1"}, method="GET"))
                assert response(sock)[0] == 200
            with server.connect() as extra:
                extra.sendall(head("/healthz", {"Host": "127.0.0.1"}, method="GET"))
                status, headers, body = response(extra)
                assert (status, body["code"]) == (503, "SMN.0018")
                assert headers["retry-after"] == "1" and len(body["request_id"]) == 32
                assert closed_by_server(extra)
        finally:
            held.pop().close()  # one leaves: there is room again

        def served() -> bool:
            return httpx.get(f"{server.url}/healthz", timeout=WAIT_S).status_code == 200

        wait_for(served, "room under the cap")
        assert server.requests_counted()[("unmatched", "503")] == 1
        for sock in held:
            sock.close()


# --- the one call anybody may make with a body -----------------------------------------------


def test_a_console_login_is_not_a_way_to_make_the_server_read_a_large_body(world: World) -> None:
    password = "p" * 512 * 1024
    with TestClient(create_app(world.settings)) as anon:
        r = anon.post("/console/api/login", json={"name": "alice", "password": password},
                      headers={"X-Smsgate-Console": "1"})
    assert r.status_code == 413 and r.json()["code"] == "SMN.0024"


def test_the_open_files_limit_is_lifted_to_what_the_connection_cap_needs(tmp_path) -> None:
    """Each connection is a file descriptor: a soft limit under the cap would refuse
    connections with EMFILE long before the cap's 503."""
    script = (
        "import resource\n"
        "from smsgate.api.server import raise_open_files_limit\n"
        "from smsgate.config import Settings\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))\n"
        "raise_open_files_limit(Settings(max_connections=300))\n"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0], hard)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=tmp_path).stdout.split()
    lifted, hard = int(out[0]), int(out[1])
    assert lifted == (300 + 256 if hard == -1 else min(300 + 256, hard))
