"""A callback receiver for the benchmarks: takes smsgate's event posts, one event or a JSON array
of them, checks each post's signature, and counts events by ``message_id``.

Runs as its own process (``bench/e2e.py`` starts it), answers every post with 200 and keeps, per
message, how many events came, the ``mobile`` of the first and when it came (wall clock, so that
the benchmark can compare it with its own start).  ``GET /stats`` gives the totals,
``GET /events`` everything kept.  Not a test.

It stands in for a customer's server on the benchmark's own machine, so it is kept lean: an
HTTP/1.1 server (keep-alive, pipelined requests answered in order, ``Content-Length`` or chunked
bodies) on an asyncio protocol with ``httptools`` (llhttp, the parser uvicorn uses) doing the
parsing; ``--server aiohttp`` runs the same handlers on ``aiohttp.web`` instead.

    .venv/bin/python bench/receiver.py --port 8099 --secret SECRET [--server httptools|aiohttp]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import time

import httptools
import msgspec

SIGNATURE_HEADER = "X-Smsgate-Signature"
_SIGNATURE = SIGNATURE_HEADER.lower().encode()


class Tally:
    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()
        self.events: dict[str, list] = {}  # message_id -> [count, mobile, first arrival, event_type]
        self.posts = 0
        self.total = 0
        self.bad_signatures = 0
        self.bad_bodies = 0
        self.first_at: float | None = None
        self.last_at: float | None = None

    def signed(self, header: str, body: bytes) -> bool:
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        t = parts.get("t", "")
        mac = hmac.new(self.secret, t.encode() + b"." + body, hashlib.sha256).hexdigest()
        return t.isdigit() and hmac.compare_digest(mac, parts.get("v1", ""))

    def post(self, signature: str, body: bytes) -> None:
        """One post of events: its signature checked, its events counted."""
        now = time.time()
        self.posts += 1
        if not self.signed(signature, body):
            self.bad_signatures += 1
        try:
            decoded = msgspec.json.decode(body)
        except msgspec.DecodeError:
            self.bad_bodies += 1
            return
        for event in decoded if isinstance(decoded, list) else [decoded]:
            self.total += 1
            message_id = event.get("message_id")
            if message_id is None:  # a reply event: not what the benchmark counts
                continue
            kept = self.events.get(message_id)
            if kept is None:
                self.events[message_id] = [1, event.get("mobile"), now, event.get("event_type")]
            else:
                kept[0] += 1
        self.first_at = self.first_at or now
        self.last_at = now

    def stats(self) -> bytes:
        return msgspec.json.encode({
            "posts": self.posts, "events": self.total, "messages": len(self.events),
            "bad_signatures": self.bad_signatures, "bad_bodies": self.bad_bodies,
            "first_at": self.first_at, "last_at": self.last_at,
        })

    def answer(self, method: bytes, path: bytes, signature: str, body: bytes) -> tuple[int, bytes]:
        if method == b"POST" and path == b"/events":
            self.post(signature, body)
            return 200, b""
        if method == b"GET" and path == b"/stats":
            return 200, self.stats()
        if method == b"GET" and path == b"/events":
            return 200, msgspec.json.encode(self.events)
        return 404, b""


_REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found"}


class Connection(asyncio.Protocol):
    """One client's connection: requests parsed as they come, answered in order."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self._url = b""
        self._signature = ""
        self._body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._close(400)
        except httptools.HttpParserError:
            self._close(400)

    # --- the parser's callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url, self._signature, self._body = b"", "", []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == _SIGNATURE:
            self._signature = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        path = httptools.parse_url(self._url).path
        status, body = self.tally.answer(self.parser.get_method(), path, self._signature, b"".join(self._body))
        keep = self.parser.should_keep_alive()
        head = (b"HTTP/1.1 %d %s\r\nContent-Length: %d\r\nContent-Type: application/json\r\n%s\r\n"
                % (status, _REASONS[status], len(body), b"" if keep else b"Connection: close\r\n"))
        assert self.transport is not None
        self.transport.write(head + body)
        if not keep:
            self.transport.close()

    def _close(self, status: int) -> None:
        assert self.transport is not None
        self.transport.write(b"HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                             % (status, _REASONS[status]))
        self.transport.close()


async def serve(host: str, port: int, tally: Tally) -> None:
    server = await asyncio.get_running_loop().create_server(lambda: Connection(tally), host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def serve_aiohttp(host: str, port: int, tally: Tally) -> None:
    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        status, body = tally.answer(request.method.encode(), request.path.encode(),
                                    request.headers.get(SIGNATURE_HEADER, ""), await request.read())
        return web.Response(status=status, body=body, content_type="application/json")

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handle)
    web.run_app(app, host=host, port=port, access_log=None, print=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True, help="the project's callback signing secret")
    parser.add_argument("--server", choices=("httptools", "aiohttp"), default="httptools")
    args = parser.parse_args()
    tally = Tally(args.secret)
    if args.server == "aiohttp":
        serve_aiohttp(args.host, args.port, tally)
    else:
        asyncio.run(serve(args.host, args.port, tally))


if __name__ == "__main__":
    main()
