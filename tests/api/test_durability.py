"""The 200 is the promise: a message_id a client received survives kill -9 of the server."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import httpx
import pytest

from smsgate.store.sqlite import SqliteStore
from tests.conftest import UNSUB
from tests.live import live_server, smsgate

pytestmark = pytest.mark.slow  # starts smsgate processes


def test_every_acknowledged_message_survives_kill_9(tmp_path: Path) -> None:
    server = live_server(tmp_path / "data")
    token = smsgate("admin", "token", "create", server.project_id, data_dir=server.data_dir).stdout.strip()
    url = f"{server.url}/v2/{server.project_id}/notifications/sms/promotion"
    acknowledged: list[str] = []
    stop = threading.Event()

    def client(n: int) -> None:
        with httpx.Client(headers={"X-Auth-Token": token}, timeout=10) as http:
            batch = 0
            while not stop.is_set():
                items = [
                    {"endpoint": f"139{n}{batch:03d}{i:04d}", "message": f"第{batch}批{UNSUB}", "sign_id": server.sign_id}
                    for i in range(200)
                ]
                batch += 1
                try:
                    r = http.post(url, json={"sms_message": items})
                except httpx.TransportError:
                    return  # the server died mid-request: that batch was never acknowledged
                if r.status_code == 200:
                    acknowledged.extend(x["message_id"] for x in r.json()["result"] if "message_id" in x)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    while len(acknowledged) < 2000:
        threading.Event().wait(0.05)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    stop.set()
    for t in threads:
        t.join(timeout=15)

    store = SqliteStore(server.data_dir / "smsgate.sqlite3")
    stored = {row[0] for row in store.db.execute("SELECT id FROM messages")}
    assert len(acknowledged) >= 2000
    missing = [m for m in acknowledged if m not in stored]
    assert missing == []
    store.close()
