"""Several processes run as one service: ``smsgate serve`` (the API, and delivery beside it) and
``smsgate api --workers N``.

The supervisor binds the listening sockets itself (a port in use fails at once, in one line,
and a process started again serves the same socket) and hands them to its children, which are
ordinary ``smsgate api`` / ``smsgate worker`` processes.  It forwards one SIGTERM to each on
Ctrl-C or SIGTERM and exits 0 when they all stopped cleanly.  A child that dies while the
service runs is started again after a backoff (0.5 s, doubling, at most 10 s); when one dies
more than ``SMSGATE_RESTART_LIMIT`` times within :data:`RESTART_WINDOW_S`, the supervisor logs
``service_down``, stops the others and exits 1, so that what runs the service (systemd, a
container) sees it fail instead of a service that limps.

The standard library's ``subprocess`` and ``signal`` do all of it: a process manager
(supervisord, circus) would be a second service to install and configure for what is ~150
lines here, and gunicorn's arbiter serves WSGI/ASGI workers only, not the delivery process.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

log = logging.getLogger("smsgate.supervise")

RESTART_WINDOW_S = 300.0
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 10.0
KILL_MARGIN_S = 5.0  # past a child's own bounded stop (SMSGATE_STOP_TIMEOUT), it is killed
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD)
_PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    """One process of the service: what starts it, and the deaths it has had lately."""

    role: str
    argv: list[str]
    fds: tuple[int, ...] = ()
    env: dict[str, str] | None = None
    proc: subprocess.Popen | None = None
    deaths: deque[float] = field(default_factory=deque)
    restart_at: float | None = None


def smsgate(*args: str) -> list[str]:
    """The command line of an ``smsgate`` subcommand, run by this interpreter."""
    return [sys.executable, "-m", "smsgate", *args]


def listen(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket children inherit (``--fd``)."""
    sock = socket.create_server((host, port), backlog=backlog)
    sock.set_inheritable(True)
    return sock


def _in_child() -> None:
    """Run in each child between fork and exec: the signals the supervisor waits on are
    blocked in it, which a child must not inherit; and a child is sent SIGTERM should the
    supervisor itself die (SIGKILL, OOM), so that no orphan keeps the store or the port."""
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the children outlive a killed supervisor
        pass


class Supervisor:
    def __init__(self, children: Sequence[Child], restart_limit: int, stop_timeout_s: float) -> None:
        self.children = list(children)
        self.restart_limit = restart_limit
        self.stop_timeout_s = stop_timeout_s

    def run(self) -> int:
        """Start every child and watch them until a signal or a child past its restarts; the
        exit code of the whole service."""
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)  # taken below with sigtimedwait
        for child in self.children:
            self._start(child)
        while True:
            info = signal.sigtimedwait(_SIGNALS, self._next_wake())
            if info is not None and info.si_signo in (signal.SIGINT, signal.SIGTERM):
                log.info("service_stopping", extra={"signal": signal.Signals(info.si_signo).name})
                return self._stop_all()
            for child in self.children:
                if self._reap(child) and not self._schedule_restart(child):
                    log.critical("service_down", extra={
                        "role": child.role, "deaths": len(child.deaths),
                        "window_s": RESTART_WINDOW_S, "limit": self.restart_limit})
                    self._stop_all()
                    return 1
            now = time.monotonic()
            for child in self.children:
                if child.restart_at is not None and child.restart_at <= now:
                    self._start(child)

    def _next_wake(self) -> float:
        due = [c.restart_at for c in self.children if c.restart_at is not None]
        return max(0.0, min(due) - time.monotonic()) if due else 1.0

    def _start(self, child: Child) -> None:
        child.restart_at = None
        child.proc = subprocess.Popen(child.argv, pass_fds=child.fds, env=child.env,
                                      process_group=0,  # Ctrl-C reaches the supervisor alone
                                      preexec_fn=_in_child)
        log.info("process_started", extra={"role": child.role, "pid": child.proc.pid})

    def _reap(self, child: Child) -> bool:
        """True when the child was running and has died."""
        if child.proc is None or child.proc.poll() is None:
            return False
        log.error("process_died", extra={"role": child.role, "pid": child.proc.pid,
                                         "returncode": child.proc.returncode})
        child.proc = None
        return True

    def _schedule_restart(self, child: Child) -> bool:
        """Start the child again after a backoff; False when it died too often for that."""
        now = time.monotonic()
        child.deaths.append(now)
        while child.deaths and child.deaths[0] < now - RESTART_WINDOW_S:
            child.deaths.popleft()
        if len(child.deaths) > self.restart_limit:
            return False
        backoff = min(FIRST_BACKOFF_S * 2 ** (len(child.deaths) - 1), MAX_BACKOFF_S)
        child.restart_at = now + backoff
        log.warning("process_restarting", extra={"role": child.role, "in_s": backoff,
                                                 "deaths": len(child.deaths)})
        return True

    def _stop_all(self) -> int:
        """SIGTERM to each running child, wait for their bounded stops (a second Ctrl-C or
        SIGTERM kills them at once); 0 when every one stopped cleanly."""
        running = [c for c in self.children if c.proc is not None and c.proc.poll() is None]
        for child in running:
            child.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        deadline = time.monotonic() + self.stop_timeout_s + KILL_MARGIN_S
        while any(c.proc.poll() is None for c in running):  # type: ignore[union-attr]
            info = signal.sigtimedwait(_SIGNALS, max(0.0, min(1.0, deadline - time.monotonic())))
            forced = info is not None and info.si_signo in (signal.SIGINT, signal.SIGTERM)
            if forced or time.monotonic() >= deadline:
                for child in running:
                    if child.proc.poll() is None:  # type: ignore[union-attr]
                        log.error("process_killed", extra={"role": child.role, "pid": child.proc.pid})  # type: ignore[union-attr]
                        child.proc.kill()  # type: ignore[union-attr]
                        child.proc.wait()  # type: ignore[union-attr]
        codes = {c.role: c.proc.returncode for c in running}  # type: ignore[union-attr]
        log.info("service_stopped", extra={"returncodes": codes})
        clean = len(running) == len(self.children) and not any(codes.values())
        return 0 if clean else 1
