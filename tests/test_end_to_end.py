"""A fresh install delivers end to end: ``smsgate serve`` with its built-in SMSC simulator, a
customer's callback URL, and a reply injected with ``smsgate smsc-sim mo``."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest

from smsgate.callbacks.events import SIGNATURE_HEADER, verify
from tests.conftest import UNSUB
from tests.live import free_port, live_server, smsgate
from tests.wait import wait_until

pytestmark = pytest.mark.slow  # starts smsgate processes


class Receiver:
    """The customer's webhook: records every event it is sent."""

    def __init__(self) -> None:
        self.events: list[tuple[dict, str, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.events.append((json.loads(body), self.headers[SIGNATURE_HEADER], body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, event_type: str | tuple[str, ...], n: int, timeout: float = 20) -> list[dict]:
        """Once ``n`` events of the type (or types) arrived: all of them so far."""
        types = (event_type,) if isinstance(event_type, str) else event_type

        def found() -> list[dict] | None:
            events = [e for e, _, _ in self.events if e["event_type"] in types]
            return events if len(events) >= n else None

        try:
            return wait_until(found, timeout, f"{n} {event_type}")
        except TimeoutError:
            got = [e["event_type"] for e, _, _ in self.events]
            raise AssertionError(f"{n} {event_type} not received; got {got}") from None


def free_pair() -> int:
    """A port p with p+1 free too (the simulator's control port)."""
    for _ in range(50):
        p = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p + 1))
            except OSError:
                continue
        return p
    raise RuntimeError("no free port pair")


@pytest.fixture
def receiver() -> Receiver:
    r = Receiver()
    yield r
    r.server.shutdown()


def test_accepted_messages_are_delivered_reported_and_replies_opt_out(tmp_path: Path, receiver: Receiver) -> None:
    sim_port = free_pair()
    server = live_server(tmp_path / "data", env={"SMSGATE_SIM_PORT": str(sim_port),
                                                 "SMSGATE_SEND_WINDOW": "00:00-24:00",
                                                 # the receiver listens on loopback, which callbacks
                                                 # may reach only when the operator allows it
                                                 "SMSGATE_CALLBACK_ALLOW": "127.0.0.0/8"})
    try:
        token = smsgate("admin", "token", "create", server.project_id, data_dir=server.data_dir).stdout.strip()
        secret = smsgate("admin", "project", "callback-secret", server.project_id,
                         data_dir=server.data_dir).stdout.strip()
        http = httpx.Client(base_url=server.url, headers={"X-Auth-Token": token}, timeout=10)
        base = f"/v2/{server.project_id}/notifications/sms"
        r = http.put(f"{base}/callback", json={"callback": [
            {"event_type": t, "topic_urn": receiver.url}
            for t in ("sms_success_event", "sms_fail_event", "sms_reply_event")]})
        assert r.status_code == 200
        items = [{"endpoint": f"1380013{i:04d}", "message": ("惠" * 100 if i == 0 else "") + f"会员日{UNSUB}",
                  "sign_id": server.sign_id, "extend_code": f"k{i}"} for i in range(20)]
        ids = [x["message_id"] for x in http.post(f"{base}/promotion", json={"sms_message": items}).json()["result"]]

        events = receiver.wait_for("sms_success_event", 1) + [e for e, _, _ in receiver.events]

        def final_report() -> dict | None:
            report = http.get(f"{base}/report").json()
            final = report["count"] == 20 and all(d["status"] in (1, 2) for d in report["data"])
            return report if final else None

        report = wait_until(final_report, 20, "the report shows every message final", interval=0.1)
        statuses = {d["message_id"]: d for d in report["data"]}
        assert set(statuses) == set(ids) and all(d["status"] in (1, 2) for d in statuses.values())
        assert statuses[ids[0]]["fee_num"] == 2  # 108 characters with the signature: two parts
        final_events = receiver.wait_for(("sms_success_event", "sms_fail_event"), 20)
        assert sorted(e["message_id"] for e in final_events) == sorted(ids)
        assert all(verify(secret, header, body) for _, header, body in receiver.events)
        assert events

        # a handset answers TD: the number is opted out of the signature, the customer told
        result = subprocess.run(
            [sys.executable, "-m", "smsgate", "smsc-sim", "mo", "--port", str(sim_port),
             "--from", "8613800130003", "--to", "10690000", "--text", "TD"],
            capture_output=True, text=True, timeout=30,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["sessions"] == 1, result.stdout
        [reply] = receiver.wait_for("sms_reply_event", 1)
        assert (reply["mobile"], reply["reply"], reply["sign_id"]) == ("13800130003", "TD", server.sign_id)
        again = http.post(f"{base}/promotion", json={"sms_message": [items[3]]}).json()["result"][0]
        assert again["code"] == "SMN.0230"
    finally:
        server.stop()
