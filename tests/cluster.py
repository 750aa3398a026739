"""A scaled-out smsgate on this machine: ``smsgate api`` and ``smsgate worker`` processes on one
PostgreSQL schema (and Redis), delivering to a standalone ``smsgate smsc-sim`` that records every
submit_sm.  The fault tests and ``bench/scale.py`` drive it; every process is a real one, started
as a user would, so kill -9 means what it says.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from cryptography.fernet import Fernet

from tests.faults import FaultProxy
from tests.live import free_port
from tests.services import PgSchema, require_redis
from tests.wait import wait_until

OPEN_STATES = ("QUEUED", "SENDING", "SUBMITTED")


@dataclass
class Cluster:
    root: Path
    binds: int = 2
    redis: bool = True
    sim_args: tuple[str, ...] = ()
    channel_extra: str = ""
    env_extra: dict[str, str] = field(default_factory=dict)
    db_proxy: FaultProxy | None = None  # the processes reach PostgreSQL through it, if given
    redis_proxy: FaultProxy | None = None  # and Redis through this one

    def __post_init__(self) -> None:
        self.schema = PgSchema()
        url = f"{self.schema.url}&application_name={self.schema.name}"  # its sessions, by name
        self.database_url = self.db_proxy.url(url) if self.db_proxy else url
        self.root.mkdir(parents=True, exist_ok=True)
        self.record = self.root / "record.jsonl"
        self.env = {
            **os.environ,
            "SMSGATE_DATABASE_URL": self.database_url,
            "SMSGATE_DATA_DIR": str(self.root / "data"),
            "SMSGATE_MASTER_KEY": Fernet.generate_key().decode(),
            "SMSGATE_SEND_WINDOW": "00:00-24:00",
            "SMSGATE_DAILY_CAP": "1000",
            "SMSGATE_LOG_LEVEL": "warning",
            **self.env_extra,
        }
        if self.redis:
            redis_url = require_redis()
            self.env["SMSGATE_REDIS_URL"] = self.redis_proxy.url(redis_url) if self.redis_proxy else redis_url
        self.processes: list[subprocess.Popen] = []
        self.log_paths: dict[int, Path] = {}
        self.apis: list[tuple[subprocess.Popen, str]] = []
        self.workers: list[subprocess.Popen] = []
        self.sim_port, self.control_port = free_port(), free_port()
        self.sim = self._spawn("sim", "smsc-sim", "--port", str(self.sim_port), "--record", str(self.record),
                               "--receipt-delay-ms", "100", "--control-port", str(self.control_port),
                               *self.sim_args)
        self.channels = self.root / "channels.toml"
        self.write_channels(self.sim_port)
        wait_until(lambda: _port_open(self.sim_port), 30, "the simulator listens")
        self.project_id = self.admin("project", "create", "acme", "--enterprise", "--grant", "promotion")["project_id"]
        self.sign_id = self.admin("sign", "create", self.project_id, "阿克米", "--approve")["sign_id"]
        self.token = self.admin("token", "create", self.project_id)["token"]

    def write_channels(self, port: int) -> None:
        self.channels.write_text(
            f'[[channel]]\nname = "sim"\nhost = "127.0.0.1"\nport = {port}\nsystem_id = "smsgate"\n'
            f'password = ""\nsource_addr = "10690000"\nprefixes = ["*"]\nbinds = {self.binds}\n'
            f"reconnect_max = 2.0\n{self.channel_extra}"
        )

    # --- processes -------------------------------------------------------------------------

    def _spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        path = self.root / f"{name}-{len(self.processes)}.log"
        log = open(path, "wb")  # noqa: SIM115
        process = subprocess.Popen([sys.executable, "-m", "smsgate", *args], env={**self.env, **(env or {})},
                                   stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        self.log_paths[process.pid] = path
        return process

    def admin(self, *args: str) -> dict:
        done = subprocess.run([sys.executable, "-m", "smsgate", "admin", *args, "--json"], env=self.env,
                              capture_output=True, text=True, timeout=60)
        if done.returncode:
            raise RuntimeError(f"admin {args}: {done.stderr}")
        return json.loads(done.stdout)

    def start_api(self) -> str:
        port = free_port()
        process = self._spawn("api", "api", "--port", str(port))
        url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"smsgate api exited: {self.logs('api')}")
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, 30, "smsgate api is healthy")
        self.apis.append((process, url))
        return url

    def start_worker(self, *args: str, wait: bool = True, env: dict[str, str] | None = None) -> subprocess.Popen:
        """A worker; by default, once it says it is alive in the store (it has connected)."""
        process = self._spawn("worker", "worker", "--channels", str(self.channels), *args, env=env)
        self.workers.append(process)

        def alive() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"smsgate worker exited: {self.logs('worker')}")
            return bool(self.query("SELECT 1 FROM bind_leases WHERE owner LIKE %s", (f"%:{process.pid}:%",)))

        if wait:
            wait_until(alive, 30, "the worker is up")
        return process

    def wait_binds_shared(self, timeout: float = 60) -> None:
        """Until every worker holds a bind of the channel (one each when binds == workers)."""
        wait_until(lambda: len({r[0] for r in self.query(
            "SELECT owner FROM bind_leases WHERE channel='sim'")}) == min(len(self.workers), self.binds),
            timeout, "the workers share the binds")

    def log_of(self, process: subprocess.Popen) -> str:
        """Everything ``process`` has logged so far."""
        return self.log_paths[process.pid].read_text(errors="replace")

    def logs(self, name: str) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.root.glob(f"{name}-*.log")))

    def close(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.schema.drop()

    # --- traffic and what became of it ----------------------------------------------------

    def batch(self, first: int, n: int, text: str = "双十一全场五折，拒收请回复R") -> list[dict]:
        return [{"endpoint": f"139{first + i:08d}", "message": text, "sign_id": self.sign_id} for i in range(n)]

    def post(self, http: httpx.Client, url: str, items: list[dict]) -> httpx.Response:
        return http.post(f"{url}/v2/{self.project_id}/notifications/sms/promotion", json={"sms_message": items},
                         headers={"X-Auth-Token": self.token})

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.schema.url, autocommit=True) as db:
            return db.execute(sql, params).fetchall()

    def smpp_sessions(self) -> int:
        """Binds the simulator has open now."""
        from smsgate.smsc.control import request

        return int(request(self.control_port, {"op": "stats"})["sessions"])

    def states(self) -> Counter:
        return Counter(dict(self.query("SELECT state, count(*) FROM messages GROUP BY state")))

    def wait_settled(self, timeout: float) -> Counter:
        """Wait until no message is queued, being sent or waiting for its receipt."""
        def settled() -> Counter | None:
            counts = self.states()
            return counts if counts and not any(counts[s] for s in OPEN_STATES) else None
        return wait_until(settled, timeout, "every message reaches a final state", interval=0.3)

    def accepted(self) -> int:
        """submit_sm the simulator has accepted so far (answered with a message id)."""
        from smsgate.smsc.control import request

        return int(request(self.control_port, {"op": "stats"})["accepted"])

    def records(self) -> list[dict]:
        """The simulator's record of every submit_sm it accepted until now.  It writes the
        record in batches (every 0.2 s), so the file is read once it holds every submit the
        simulator says it accepted: a read any earlier misses the last ones."""
        accepted = self.accepted()

        def complete() -> list[dict] | None:
            text = self.record.read_text()
            lines = [line for line in text[:text.rfind("\n") + 1].splitlines() if line]  # none half written
            return [json.loads(line) for line in lines] if len(lines) >= accepted else None

        return wait_until(complete, 30, f"the simulator's record holds the {accepted} submits it accepted")

    def submits(self) -> Counter:
        """submit_sm the simulator accepted, per destination number."""
        return Counter(line["destination"] for line in self.records())

    def duplicate_parts(self) -> int:
        """Parts the simulator accepted more than once (same number, same bytes: the
        concatenation header tells the parts of one message apart)."""
        parts = Counter((line["destination"], line["message_hex"]) for line in self.records())
        return sum(n - 1 for n in parts.values() if n > 1)


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
