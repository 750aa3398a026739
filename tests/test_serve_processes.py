"""``smsgate serve`` as processes: the API and delivery each in its own, supervised as one
service: one signal stops all with one exit code, a delivery process that dies is started
again, and one that keeps dying takes the whole service down (exit 1)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.live import free_port
from tests.wait import wait_until

pytestmark = pytest.mark.slow


def children(pid: int) -> dict[str, int]:
    """The supervisor's children by role ("api", "worker"), from /proc."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except FileNotFoundError:  # gone meanwhile
                continue
            if b"smsgate" in argv:
                found[argv[argv.index(b"smsgate") + 1].decode()] = int(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


class Serve:
    def __init__(self, tmp_path: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "serve.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "smsgate", "serve", "--port", str(self.port),
             "--data-dir", str(tmp_path / "data")],
            stdout=subprocess.DEVNULL, stderr=self.log.open("wb"),
            env={**os.environ, "SMSGATE_SIM_PORT": "0", **(env or {})})

    def metrics(self) -> str:
        try:
            return httpx.get(f"{self.url}/metrics", timeout=5).text
        except httpx.TransportError:
            return ""

    def delivering(self) -> bool:
        """The API answers, and its /metrics shows the delivery process's bind up."""
        text = self.metrics()
        return "smsgate_delivery_up 1" in text and 'smsgate_smpp_binds_up{channel="simulator"} 1.0' in text

    def wait_started(self) -> dict[str, int]:
        wait_until(self.delivering, 30, "serve answers, with its delivery process bound", interval=0.1)
        return wait_until(lambda: (c := children(self.proc.pid)).keys() >= {"api", "worker"} and c,
                          10, "both processes listed")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def serve(tmp_path: Path):
    started: list[Serve] = []

    def start(**env: str) -> Serve:
        started.append(Serve(tmp_path, env))
        return started[-1]

    yield start
    for s in started:
        s.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_api_and_delivery_run_in_two_processes_and_one_signal_stops_both_with_exit_0(serve, sig) -> None:
    s = serve()
    procs = s.wait_started()
    assert procs["api"] != procs["worker"] != s.proc.pid
    text = s.metrics()
    assert "smsgate_http_requests_total" in text  # the API's own
    assert "smsgate_callback_posts_total" in text and "smsgate_queue_depth" in text
    assert text.count("# TYPE smsgate_queue_depth ") == 1  # the store's gauges once, not per process
    s.proc.send_signal(sig)
    assert s.proc.wait(timeout=60) == 0
    assert not any(alive(pid) for pid in procs.values())
    log = s.log.read_text()
    assert "worker_stopped" in log and "service_stopped" in log


def test_a_delivery_process_that_dies_is_started_again(serve) -> None:
    s = serve()
    first = s.wait_started()["worker"]
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: children(s.proc.pid).get("worker") not in (None, first), 20,
               "a new delivery process")
    wait_until(s.delivering, 30, "the new delivery process binds and reports")
    assert s.proc.poll() is None
    assert '"process_died"' in s.log.read_text()
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(timeout=60) == 0


def test_a_process_that_keeps_dying_takes_the_service_down_with_exit_1(serve) -> None:
    s = serve(SMSGATE_RESTART_LIMIT="1")
    procs = s.wait_started()
    os.kill(procs["worker"], signal.SIGKILL)  # the one restart allowed
    second = wait_until(lambda: children(s.proc.pid).get("worker") not in (None, procs["worker"])
                        and children(s.proc.pid)["worker"], 20, "a new delivery process")
    os.kill(second, signal.SIGKILL)  # one death too many
    assert s.proc.wait(timeout=60) == 1
    assert not alive(procs["api"])  # the API went down with it, not left serving alone
    assert '"service_down"' in s.log.read_text()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{s.url}/healthz", timeout=2)
