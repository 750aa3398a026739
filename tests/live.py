"""A real ``smsgate serve`` process on a free loopback port, set up through the admin CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.wait import wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def smsgate(*args: str, data_dir: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run the CLI as a user would (``python -m smsgate``), in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "smsgate", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=check,
        timeout=60,
    )


def admin_json(*args: str, data_dir: Path) -> dict:
    return json.loads(smsgate("admin", *args, "--json", data_dir=data_dir).stdout)


@dataclass
class LiveServer:
    url: str
    data_dir: Path
    process: subprocess.Popen
    project_id: str
    access_key: str
    secret_key: str
    sign_id: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(data_dir: Path, env: dict[str, str] | None = None) -> tuple[str, subprocess.Popen]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "smsgate", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "SMSGATE_SIM_PORT": "0", **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"smsgate serve exited: {process.stderr.read().decode()}")
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(healthy, 30, "smsgate serve is healthy", interval=0.1)
    except TimeoutError:
        process.kill()
        raise
    return url, process


def live_server(data_dir: Path, env: dict[str, str] | None = None) -> LiveServer:
    """Start a server and give it an enterprise project, an AK/SK and an approved signature."""
    project = admin_json("project", "create", "acme", "--enterprise", "--grant", "promotion", data_dir=data_dir)
    pid = project["project_id"]
    keys = admin_json("key", "create", pid, data_dir=data_dir)
    sign = admin_json("sign", "create", pid, "阿克米", "--approve", data_dir=data_dir)
    url, process = start_server(data_dir, env)
    return LiveServer(url, data_dir, process, pid, keys["access_key"], keys["secret_key"], sign["sign_id"])
