"""The fault proxy itself, against a loopback echo server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from tests.faults import FaultProxy


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=_echo, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[:2]
    server.close()


def _echo(conn: socket.socket) -> None:
    with conn:
        while data := conn.recv(4096):
            conn.sendall(data)


def roundtrip(sock: socket.socket, payload: bytes = b"ping") -> bytes:
    sock.sendall(payload)
    return sock.recv(4096)


def connect(proxy: FaultProxy) -> socket.socket:
    return socket.create_connection(proxy.address, timeout=5)


def test_forwards_both_ways(echo: tuple[str, int]) -> None:
    with FaultProxy(*echo) as proxy, connect(proxy) as sock:
        assert roundtrip(sock) == b"ping"


def test_cut_closes_current_and_new_connections_then_restore_lets_new_ones_through(
    echo: tuple[str, int],
) -> None:
    with FaultProxy(*echo) as proxy:
        before = connect(proxy)
        assert roundtrip(before) == b"ping"
        proxy.cut()
        assert _closed(before)
        during = connect(proxy)  # accepted by the kernel, then closed by the proxy
        assert _closed(during)
        proxy.restore()
        with connect(proxy) as after:
            assert roundtrip(after) == b"ping"


def test_stall_holds_bytes_until_restore(echo: tuple[str, int]) -> None:
    with FaultProxy(*echo) as proxy, connect(proxy) as sock:
        proxy.stall()
        sock.settimeout(0.2)
        sock.sendall(b"held")
        with pytest.raises(TimeoutError):
            sock.recv(4096)
        proxy.restore()
        sock.settimeout(5)
        assert sock.recv(4096) == b"held"


def test_url_points_the_same_url_at_the_proxy(echo: tuple[str, int]) -> None:
    with FaultProxy(*echo) as proxy:
        assert proxy.url("postgresql://postgres:pw@127.0.0.1:5432/test?x=1") == (
            f"postgresql://postgres:pw@127.0.0.1:{proxy.port}/test?x=1"
        )
        assert proxy.url_for("redis", "/0") == f"redis://127.0.0.1:{proxy.port}/0"


def _closed(sock: socket.socket) -> bool:
    """True once the peer has closed: EOF or a reset (bounded wait, no timing assertion)."""
    sock.settimeout(5)
    try:
        sock.sendall(b"x")
        return sock.recv(4096) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    finally:
        sock.close()
