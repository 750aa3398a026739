"""``/metrics`` in Prometheus' text format (prometheus_client).

Counters are bumped where things happen (requests, accepted and refused items); gauges of
state (queue depth, outbox, SMPP binds) are read from the store and the channels when scraped,
so they are right after a restart and cost nothing between scrapes.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("smsgate_http_requests", "HTTP requests by route and status",
                                ["route", "status"], registry=self.registry)
        self.latency = Histogram("smsgate_http_request_seconds", "HTTP request latency by route",
                                 ["route"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.accepted = Counter("smsgate_messages_accepted", "Messages accepted (queued)",
                                registry=self.registry)
        self.refused = Counter("smsgate_messages_refused", "Items refused, by SMN code", ["code"],
                               registry=self.registry)

    def count_items(self, accepted: int, refused: Tally[str]) -> None:
        self.accepted.inc(accepted)
        for code, n in refused.items():
            self.refused.labels(code).inc(n)

    def watch(self, read: Callable[[], Iterable]) -> None:
        """Add a collector called at each scrape (``read`` yields metric families)."""
        self.registry.register(_Collector(read))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Collector:
    def __init__(self, read: Callable[[], Iterable]) -> None:
        self._read = read

    def collect(self) -> Iterable:
        return self._read()


def store_gauges(db_read: Callable[[str], list[tuple]]) -> Callable[[], Iterable]:
    """Queue depth by state and the callback outbox, read at scrape time."""

    def read() -> Iterable:
        depth = GaugeMetricFamily("smsgate_queue_depth", "Messages by state", labels=["state"])
        for state, n in db_read("SELECT state, count(*) FROM messages GROUP BY state"):
            depth.add_metric([state], n)
        yield depth
        outbox = GaugeMetricFamily("smsgate_callback_outbox", "Callback events by state", labels=["state"])
        for state, n in db_read("SELECT state, count(*) FROM outbox GROUP BY state"):
            outbox.add_metric([state], n)
        yield outbox

    return read


def channel_gauges(channels: Callable[[], Iterable]) -> Callable[[], Iterable]:
    """Per-channel SMPP counters (submit_sm/s and receipts/s are their rates) and window use."""

    def read() -> Iterable:
        submits = CounterMetricFamily("smsgate_smpp_submits", "submit_sm accepted", labels=["channel"])
        errors = CounterMetricFamily("smsgate_smpp_submit_errors", "submit_sm refused or lost", labels=["channel"])
        receipts = CounterMetricFamily("smsgate_smpp_receipts", "Delivery receipts", labels=["channel"])
        window = GaugeMetricFamily("smsgate_smpp_window_in_use", "Outstanding submit_sm", labels=["channel"])
        up = GaugeMetricFamily("smsgate_smpp_up", "1 when the channel is bound", labels=["channel"])
        for channel in channels():
            stats = channel.stats
            submits.add_metric([channel.name], stats.submitted)
            errors.add_metric([channel.name], stats.submit_errors)
            receipts.add_metric([channel.name], stats.receipts)
            window.add_metric([channel.name], stats.window_in_use)
            up.add_metric([channel.name], 1 if channel.up else 0)
        yield from (submits, errors, receipts, window, up)

    return read


class RequestMetrics:
    """Pure ASGI middleware: requests by route (the endpoint's name) and status, and latency."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            endpoint = scope.get("endpoint")
            route = getattr(endpoint, "__name__", "unmatched")
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
