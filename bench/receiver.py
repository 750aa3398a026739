"""A callback receiver for the benchmarks: takes smsgate's event posts, one event or a JSON array
of them, checks each post's signature, and counts events by ``message_id``.

Runs as its own process (``bench/e2e.py`` starts it), answers every post with 200 and keeps, per
message, how many events came, the ``mobile`` of the first and when it came (wall clock, so that
the benchmark can compare it with its own start).  ``GET /stats`` gives the totals,
``GET /events`` everything kept.  Not a test.

    .venv/bin/python bench/receiver.py --port 8099 --secret SECRET
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import time

import msgspec
from aiohttp import web

SIGNATURE_HEADER = "X-Smsgate-Signature"


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

    async def post(self, request: web.Request) -> web.Response:
        body = await request.read()
        now = time.time()
        self.posts += 1
        if not self.signed(request.headers.get(SIGNATURE_HEADER, ""), body):
            self.bad_signatures += 1
        try:
            decoded = msgspec.json.decode(body)
        except msgspec.DecodeError:
            self.bad_bodies += 1
            return web.Response(status=200)
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
        return web.Response(status=200)

    async def stats(self, _request: web.Request) -> web.Response:
        return web.Response(body=msgspec.json.encode({
            "posts": self.posts, "events": self.total, "messages": len(self.events),
            "bad_signatures": self.bad_signatures, "bad_bodies": self.bad_bodies,
            "first_at": self.first_at, "last_at": self.last_at,
        }), content_type="application/json")

    async def dump(self, _request: web.Request) -> web.Response:
        return web.Response(body=msgspec.json.encode(self.events), content_type="application/json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True, help="the project's callback signing secret")
    args = parser.parse_args()
    tally = Tally(args.secret)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/events", tally.post)
    app.router.add_get("/stats", tally.stats)
    app.router.add_get("/events", tally.dump)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
