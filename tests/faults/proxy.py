"""A loopback TCP proxy that tests put between a client and a real server (Redis, PostgreSQL) to
take the server "down" and bring it back without touching the server itself.

Written by hand: no library in the project does it (toxiproxy is a separate Go server), and it
is small — one thread accepting, two threads per connection copying bytes.

    with FaultProxy("127.0.0.1", 6379) as proxy:
        client = redis.Redis.from_url(proxy.url("redis://127.0.0.1:6379/0"))
        proxy.cut()        # every connection closed at once; new ones closed as accepted
        proxy.stall()      # or: connections stay open but no byte gets through (a hung server)
        wait_until(lambda: proxy.held, 10)  # some traffic is stuck in the stall now
        proxy.restore()    # traffic flows again (stalled bytes are delivered)
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit, urlunsplit

__all__ = ["FaultProxy"]


class FaultProxy:
    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server((host, 0))
        self.host, self.port = self._listener.getsockname()[:2]
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._cut = False
        self._flowing = threading.Event()  # cleared while stalled
        self._flowing.set()
        self.held = 0  # connections and chunks that arrived while stalled (they wait for restore)
        self._stopped = False
        self._thread = threading.Thread(target=self._accept_loop, name="fault-proxy", daemon=True)
        self._thread.start()

    # --- faults ----------------------------------------------------------------------------

    def cut(self) -> None:
        """Close every current connection now; close new ones as soon as they are accepted.
        (A cut ends a stall: the stalled connections are among those closed.)"""
        with self._lock:
            self._cut = True
            doomed = list(self._sockets)
        for sock in doomed:
            _close(sock)
        self._flowing.set()  # wake stalled pumps so they notice their sockets are gone

    def stall(self) -> None:
        """Keep connections open but forward nothing (a server that hangs): clients time out."""
        self._flowing.clear()

    def restore(self) -> None:
        with self._lock:
            self._cut = False
        self._flowing.set()

    def stop(self) -> None:
        self._stopped = True
        self.cut()
        _close(self._listener)
        self._thread.join(timeout=5)

    # --- addresses -------------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def url_for(self, scheme: str, path: str = "", user: str | None = None) -> str:
        """``url_for("redis", "/0")`` -> ``redis://127.0.0.1:PORT/0``."""
        who = f"{user}@" if user else ""
        return f"{scheme}://{who}{self.host}:{self.port}{path}"

    def url(self, url: str) -> str:
        """The same URL (scheme, user, password, path, query) pointed at the proxy."""
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@" if userinfo else ""
        return urlunsplit(parts._replace(netloc=f"{netloc}{self.host}:{self.port}"))

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- plumbing --------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        if not self._track(client):
            return
        if not self._flowing.is_set():
            with self._lock:
                self.held += 1
        self._flowing.wait()  # a connection made while stalled hangs before reaching the server
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _close(client)
            return
        upstream.settimeout(None)
        if not self._track(upstream):
            _close(client)
            return
        pair = (client, upstream)
        threading.Thread(target=self._pump, args=(upstream, client, pair), daemon=True).start()
        self._pump(client, upstream, pair)

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._cut or self._stopped:
                refused = True
            else:
                self._sockets.add(sock)
                refused = False
        if refused:
            _close(sock)
        return not refused

    def _pump(
        self, src: socket.socket, dst: socket.socket, pair: tuple[socket.socket, ...]
    ) -> None:
        try:
            while data := src.recv(65536):
                if not self._flowing.is_set():
                    with self._lock:
                        self.held += 1
                self._flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        finally:  # one side ended or failed: end the whole connection
            with self._lock:
                self._sockets.difference_update(pair)
            for sock in pair:
                _close(sock)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv on this socket
    except OSError:
        pass
    sock.close()
