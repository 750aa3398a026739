"""Callbacks reach only addresses checked for them, at every post, over real loopback sockets.

The customer's hook listens on 127.0.0.2 (loopback, which Linux routes whole); a *trap* listens
on 127.0.0.1 at the same port, where a post must never arrive.  Names come from the test's
resolver (the ``dns`` fixture), and every TCP connection the event loop opens is recorded and
must be to loopback, so these tests reach nothing else even when the code under test is wrong.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import msgspec
import pytest
import trustme

from smsgate.callbacks.events import SIGNATURE_HEADER, verify
from smsgate.callbacks import poster as poster_module
from smsgate.callbacks.poster import Poster
from smsgate.callbacks.targets import CallbackGuard, CallbackPolicy, parse_allow
from smsgate.store.outbox import OutboxStore
from tests.conftest import FakeDns, World

SECRET = "s3cret"
HOOK, TRAP = "127.0.0.2", "127.0.0.1"
#: on-premises style: the hook's own address is allowed, the rest of loopback is not
ONLY_THE_HOOK = CallbackPolicy(parse_allow(f"{HOOK}/32"))


async def write(fn, *args):
    return fn(*args)


@dataclass
class Server:
    """A webhook on one address: records each request's Host header, path, body and SNI."""

    address: str
    port: int = 0
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    tls: ssl.SSLContext | None = None
    requests: list[tuple[str, str, bytes, str]] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)

    def start(self) -> Server:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keeps connections open, as most webhooks do

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((self.headers["Host"], self.path, body, self.headers[SIGNATURE_HEADER]))
                self.send_response(outer.status)
                for name, value in outer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer((self.address, self.port), Handler)
        self.port = self.httpd.server_port
        if self.tls is not None:
            self.tls.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)
            self.httpd.socket = self.tls.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def hook_and_trap(tls: ssl.SSLContext | None = None, **hook: object) -> tuple[Server, Server]:
    """The hook on 127.0.0.2 and a trap on 127.0.0.1 at the same port."""
    for _ in range(20):
        server = Server(HOOK, tls=tls, **hook).start()
        try:
            return server, Server(TRAP, server.port).start()
        except OSError:  # that port is taken on 127.0.0.1: another pair
            server.stop()
    raise RuntimeError("no port free on both 127.0.0.1 and 127.0.0.2")


@pytest.fixture
def servers() -> Iterator[tuple[Server, Server]]:
    hook, trap = hook_and_trap()
    yield hook, trap
    hook.stop(), trap.stop()


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every TCP connection the event loop is asked to open (``sock_connect``, what the HTTP
    client's connector calls for each address it tries), as (address, port); anything but
    loopback fails the test before it is tried."""
    opened: list[tuple[str, int]] = []
    loop_class = type(asyncio.get_event_loop_policy().new_event_loop())
    real = loop_class.sock_connect

    async def sock_connect(self, sock: socket.socket, address: tuple) -> None:
        assert ipaddress.ip_address(address[0]).is_loopback, f"a test tried to connect to {address[0]}"
        opened.append((address[0], address[1]))
        return await real(self, sock, address)

    monkeypatch.setattr(loop_class, "sock_connect", sock_connect)
    return opened


def poster_for(world: World, url: str, policy: CallbackPolicy = ONLY_THE_HOOK,
               verify_tls: ssl.SSLContext | bool = True) -> tuple[Poster, OutboxStore]:
    outbox = OutboxStore(world.store.db)
    outbox.subscribe(world.project_id, [("sms_success_event", url)])
    guard = CallbackGuard(policy)  # the system resolver, which the dns fixture stands in for
    return Poster(write, outbox, lambda _p: SECRET, guard, verify=verify_tls), outbox


def queue(world: World, outbox: OutboxStore, n: int) -> None:
    assert outbox.enqueue([(world.project_id, "sms_success_event", msgspec.json.encode({"n": n}), None)], 0) == 1


def last(world: World) -> tuple[str, int, str | None]:
    return world.store.db.execute("SELECT state, attempts, last_error FROM outbox ORDER BY id DESC").fetchone()


async def test_a_post_goes_to_the_address_its_name_was_checked_to(
        world: World, dns: FakeDns, servers: tuple[Server, Server], connections: list) -> None:
    hook, trap = servers
    dns.names["hooks.test"] = [HOOK]  # a name only the test's resolver knows
    poster, outbox = poster_for(world, f"http://hooks.test:{hook.port}/events?k=1")
    queue(world, outbox, 0)
    await poster.run_once(now=1)
    await poster.close()
    assert last(world) == ("DONE", 1, None)
    [(host, path, body, header)] = hook.requests
    assert (host, path) == (f"hooks.test:{hook.port}", "/events?k=1")  # the name, not the address
    assert verify(SECRET, header, body)
    assert connections == [(HOOK, hook.port)] and trap.requests == []


@pytest.mark.parametrize("answer", [[TRAP], ["10.0.0.1"], ["169.254.169.254"], [HOOK, "10.0.0.1"], ["::1"]],
                         ids=["other-loopback", "private", "metadata", "one-of-two-private", "ipv6-loopback"])
async def test_a_name_whose_dns_changes_is_refused_at_the_next_post(
        world: World, dns: FakeDns, servers: tuple[Server, Server], connections: list, answer: list[str]) -> None:
    hook, trap = servers
    dns.names["hooks.test"] = [HOOK]
    poster, outbox = poster_for(world, f"http://hooks.test:{hook.port}/events")
    queue(world, outbox, 0)
    await poster.run_once(now=1)
    assert last(world)[0] == "DONE" and len(hook.requests) == 1

    dns.names["hooks.test"] = answer  # the customer's DNS now points inside the network
    queue(world, outbox, 1)
    await poster.run_once(now=2)  # the first post's connection is still open: it must not be used
    await poster.close()
    state, attempts, error = last(world)
    assert (state, attempts) == ("PENDING", 1)  # a failed attempt: retried later like any other
    bad = next(a for a in answer if a != HOOK)
    assert error == f"refused: hooks.test ({bad}) is not a public address"
    assert len(hook.requests) == 1 and trap.requests == []
    assert connections == [(HOOK, hook.port)]  # the first post's, and no other


async def test_an_answer_that_changes_between_the_check_and_the_connection_is_not_followed(
        world: World, dns: FakeDns, servers: tuple[Server, Server], connections: list) -> None:
    """DNS rebinding: a public answer to the check, an internal one a moment later.  The
    connection is opened only to an address checked for it."""
    hook, trap = servers
    answers = iter([[HOOK]])
    dns.names["rebind.test"] = lambda: next(answers, [TRAP])
    poster, outbox = poster_for(world, f"http://rebind.test:{hook.port}/events")
    queue(world, outbox, 0)
    await poster.run_once(now=1)
    await poster.close()
    assert last(world) == ("PENDING", 1, f"refused: rebind.test ({TRAP}) is not a public address")
    assert connections == [] and hook.requests == [] and trap.requests == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}/cb", "http://2130706433:{port}/cb",
                                 "http://0x7f000001:{port}/cb", "http://[::ffff:127.0.0.1]:{port}/cb",
                                 "http://localhost.test:{port}/cb"])
async def test_urls_stored_before_the_check_existed_are_refused_at_post(
        world: World, dns: FakeDns, servers: tuple[Server, Server], connections: list, url: str) -> None:
    """The outbox and subscriptions of an older version hold URLs no longer accepted: with the
    default policy (public addresses only) nothing is sent to them."""
    _, trap = servers
    dns.names["localhost.test"] = [TRAP]
    poster, outbox = poster_for(world, url.format(port=trap.port), CallbackPolicy())
    queue(world, outbox, 0)
    await poster.run_once(now=1)
    await poster.close()
    state, attempts, error = last(world)
    assert (state, attempts) == ("PENDING", 1) and error.startswith("refused: ") and "not a public address" in error
    assert connections == [] and trap.requests == []


async def test_https_keeps_the_name_for_sni_the_host_header_and_the_certificate(
        world: World, dns: FakeDns, connections: list) -> None:
    ca = trustme.CA()
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("hooks.test").configure_cert(server_tls)  # a certificate for the name only
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    hook, trap = hook_and_trap(tls=server_tls)
    try:
        dns.names["hooks.test"] = [HOOK]
        poster, outbox = poster_for(world, f"https://hooks.test:{hook.port}/events", verify_tls=client_tls)
        queue(world, outbox, 0)
        await poster.run_once(now=1)
        await poster.close()
    finally:
        hook.stop(), trap.stop()
    assert last(world) == ("DONE", 1, None)
    assert hook.sni == ["hooks.test"] and [r[0] for r in hook.requests] == [f"hooks.test:{hook.port}"]
    assert connections == [(HOOK, hook.port)]


async def test_a_redirect_is_not_followed(world: World, dns: FakeDns, connections: list) -> None:
    hook, trap = hook_and_trap(status=302)
    hook.headers["Location"] = f"http://{TRAP}:{trap.port}/stolen"
    try:
        dns.names["hooks.test"] = [HOOK]
        poster, outbox = poster_for(world, f"http://hooks.test:{hook.port}/events")
        queue(world, outbox, 0)
        await poster.run_once(now=1)
        await poster.close()
    finally:
        hook.stop(), trap.stop()
    assert last(world) == ("PENDING", 1, "HTTP 302")
    assert len(hook.requests) == 1 and trap.requests == [] and connections == [(HOOK, hook.port)]


async def test_environment_proxies_are_not_used(world: World, dns: FakeDns, servers: tuple[Server, Server],
                                                connections: list, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through a proxy, the proxy would resolve and connect, past every check."""
    hook, trap = servers
    monkeypatch.setenv("HTTP_PROXY", f"http://{TRAP}:{trap.port}")
    monkeypatch.setenv("ALL_PROXY", f"http://{TRAP}:{trap.port}")
    dns.names["hooks.test"] = [HOOK]
    poster, outbox = poster_for(world, f"http://hooks.test:{hook.port}/events")
    queue(world, outbox, 0)
    await poster.run_once(now=1)
    await poster.close()
    assert last(world)[0] == "DONE" and len(hook.requests) == 1 and trap.requests == []


async def test_the_checked_addresses_are_tried_in_turn(world: World, dns: FakeDns, servers: tuple[Server, Server],
                                                      connections: list) -> None:
    hook, _ = servers
    dns.names["hooks.test"] = ["127.0.0.3", HOOK]  # nothing listens on the first
    poster, outbox = poster_for(world, f"http://hooks.test:{hook.port}/events",
                                CallbackPolicy(parse_allow(f"127.0.0.3/32,{HOOK}/32")))
    queue(world, outbox, 0)
    await poster.run_once(now=1)
    await poster.close()
    assert last(world)[0] == "DONE" and len(hook.requests) == 1
    assert connections == [("127.0.0.3", hook.port), (HOOK, hook.port)]


async def test_a_hook_that_never_answers_is_given_up_on_within_the_post_deadline(
        world: World, dns: FakeDns, connections: list, monkeypatch: pytest.MonkeyPatch) -> None:
    """A post (resolution, check, connection, answer) has one deadline, and the round's events
    are leased a little longer: a post that outlasted its lease could be made twice."""
    monkeypatch.setattr(poster_module, "POST_DEADLINE_S", 0.5)
    with socket.create_server((HOOK, 0)) as silent:  # accepts, reads nothing, answers nothing
        dns.names["hooks.test"] = [HOOK]
        poster, outbox = poster_for(world, f"http://hooks.test:{silent.getsockname()[1]}/events")
        queue(world, outbox, 0)
        await poster.run_once(now=1)
        await poster.close()
    assert last(world) == ("PENDING", 1, "no answer within 0.5 s")
    (due,) = world.store.db.execute("SELECT next_attempt_at FROM outbox").fetchone()
    assert due == 1 + poster_module.backoff_ms(1)  # retried like any failed post
