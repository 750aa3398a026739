"""A customer's webhook for the poster's tests: the standard library's threaded HTTP server (not
the client's own library), on loopback, keeping connections alive as most webhooks do.

It records every request (with the client's port, so a test can count connections), answers
with the statuses it is given in turn, can hold requests until released (a slow endpoint), and
counts the requests it holds at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from smsgate.callbacks.events import SIGNATURE_HEADER


@dataclass(frozen=True)
class Seen:
    path: str
    body: bytes
    signature: str
    client_port: int


@dataclass
class Hook:
    address: str = "127.0.0.1"
    statuses: list[int] = field(default_factory=list)  # answered in turn; then ``status``
    status: int = 200
    hang_up_first: int = 0  # the first N requests get no answer: the connection is just closed
    requests: list[Seen] = field(default_factory=list)
    held: threading.Event | None = None  # set: answers at once; clear: holds every request
    in_flight: int = 0
    most_in_flight: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}/events"

    @property
    def connections(self) -> int:
        return len({r.client_port for r in self.requests})

    def hold(self) -> None:
        self.held = threading.Event()

    def release(self) -> None:
        if self.held is not None:
            self.held.set()

    def wait_for(self, condition: Callable[[Hook], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"the hook never saw that ({len(self.requests)} requests)")
            time.sleep(0.01)

    def start(self) -> Hook:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with hook._lock:
                    hook.requests.append(Seen(self.path, body, self.headers.get(SIGNATURE_HEADER, ""),
                                              self.client_address[1]))
                    hang_up = len(hook.requests) <= hook.hang_up_first
                    status = hook.statuses.pop(0) if hook.statuses else hook.status
                    hook.in_flight += 1
                    hook.most_in_flight = max(hook.most_in_flight, hook.in_flight)
                try:
                    if hook.held is not None:
                        hook.held.wait(30)
                    if hang_up:
                        self.close_connection = True
                        return
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                finally:
                    with hook._lock:
                        hook.in_flight -= 1

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that gave up on a held request: nothing to report

        self.httpd = Server((self.address, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release()
        self.httpd.shutdown()
        self.httpd.server_close()
