"""For the tests of ``smsgate send`` and ``smsgate check``: a live server, a project of its own
per test, the CLI run as a user runs it, and a proxy that fails on cue."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.live import LiveServer, admin_json, live_server, smsgate

UNSUB = "拒收请回复R"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "upgrade"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = live_server(tmp_path_factory.mktemp("bulk") / "data")
    yield live
    live.stop()


@dataclass
class Account:
    """A project of its own (so message counts are this test's), its AK/SK and signature."""

    server: LiveServer
    project_id: str
    access_key: str
    secret_key: str
    sign_id: str

    @classmethod
    def create(cls, server: LiveServer, name: str = "bulk") -> Account:
        d = server.data_dir
        pid = admin_json("project", "create", name, "--enterprise", "--grant", "promotion",
                         data_dir=d)["project_id"]
        keys = admin_json("key", "create", pid, data_dir=d)
        sign = admin_json("sign", "create", pid, "阿克米", "--approve", data_dir=d)["sign_id"]
        return cls(server, pid, keys["access_key"], keys["secret_key"], sign)

    def env(self, url: str | None = None) -> dict[str, str]:
        """Server and credentials from the environment, as a script would set them."""
        return {"SMSGATE_SERVER": url or self.server.url, "SMSGATE_AK": self.access_key,
                "SMSGATE_SK": self.secret_key}

    def run(self, command: str, file: Path, *args: str, url: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return cli(command, str(file), "--project", self.project_id, "--sign", self.sign_id, *args,
                   env=self.env(url) if env is None else env)

    def popen(self, command: str, file: Path, *args: str,
              url: str | None = None) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "smsgate", command, str(file), "--project", self.project_id,
             "--sign", self.sign_id, *args],
            env=_env(self.env(url)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def messages(self) -> int:
        """Messages the store holds for this project, whatever their state."""
        out = smsgate("report", "--since", "1d", "--project", self.project_id, "--limit", "0",
                      "--json", data_dir=self.server.data_dir).stdout
        return sum(json.loads(out)["counts"].values())

    def token(self) -> str:
        out = smsgate("admin", "token", "create", self.project_id, data_dir=self.server.data_dir)
        return out.stdout.strip()

    def status(self, message_id: str) -> dict:
        """``smsgate status`` of one message: what the store holds."""
        out = smsgate("status", message_id, "--json", data_dir=self.server.data_dir)
        return json.loads(out.stdout)


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGATE_")}
    return {**env, **extra}


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smsgate", *args], env=_env(env),
                          capture_output=True, text=True, timeout=120)


def rows(n: int, start: int = 0, text: str = "双十一全场五折，第{i}号") -> list[tuple[str, str]]:
    """``n`` distinct numbers, each with its own promotional text."""
    return [(f"138{start + i:08d}", text.format(i=start + i) + UNSUB) for i in range(n)]


def write_csv(path: Path, data: list[tuple[str, ...]], *, encoding: str = "utf-8",
              header: str = "endpoint,message") -> Path:
    lines = [header, *(",".join(r) for r in data)]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def results(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))


# --- a proxy that misbehaves on cue -------------------------------------------------------------

FORWARD, FAIL, HOLD, LOSE_ANSWER = "forward", "fail", "hold", "lose-answer"


class Proxy:
    """Between the CLI and the server.  ``policy(n)`` decides the fate of the n-th POST (from 1):
    forward it; answer 503 (FAIL); keep it unanswered until :meth:`close` (HOLD, and ``held``
    is set); or forward it and drop the connection before the answer (LOSE_ANSWER: the server
    committed, the client never heard).  ``drop_query`` forwards without the query string, as
    a server that ignores ``dry_run`` would in effect."""

    def __init__(self, upstream: str, policy: Callable[[int], str],
                 drop_query: bool = False) -> None:
        self.upstream = upstream
        self.policy = policy
        self.drop_query = drop_query
        self.posts = 0
        self.keys: list[str | None] = []
        self.held = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=30)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with proxy._lock:
                    proxy.posts += 1
                    proxy.keys.append(self.headers.get("X-Idempotency-Key"))
                    action = proxy.policy(proxy.posts)
                if action == FAIL:
                    down = b'{"request_id":"x","code":"SMN.0018","message":"Down."}'
                    self._answer(503, down, "application/json")
                elif action == HOLD:
                    proxy.held.set()
                    proxy.release.wait(60)
                    self.close_connection = True
                else:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                    path = self.path.split("?")[0] if proxy.drop_query else self.path
                    r = proxy._http.post(proxy.upstream + path, content=body, headers=headers)
                    if action == LOSE_ANSWER:
                        self.close_connection = True
                        return
                    self._answer(r.status_code, r.content, r.headers.get("content-type", ""))

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._http.close()
