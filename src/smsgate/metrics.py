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
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smsgate.domain.records import now_ms
from smsgate.callbacks.poster import PosterStats
from smsgate.latency import Latency
from smsgate.smpp.session import SessionStats
from smsgate.store.db import Db
from smsgate.store.delivery import queue_depth
from smsgate.store.outbox import outbox_depth

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """One process's registry.  ``http=False``: without the API's request and item counters (a
    delivery process, whose families the API's ``/metrics`` appends to its own)."""

    def __init__(self, http: bool = True) -> None:
        self.registry = CollectorRegistry()
        if not http:
            return
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


def store_gauges(db: Callable[[], Db]) -> Callable[[], Iterable]:
    """Messages not yet final and the callback outbox, read at scrape time (index lookups)."""

    def read() -> Iterable:
        depth = GaugeMetricFamily("smsgate_queue_depth", "Messages not yet final: due, held (window"
                                  " or retry backoff), sending, submitted (awaiting a receipt)",
                                  labels=["state"])
        for state, n in queue_depth(db(), now_ms()).items():
            depth.add_metric([state], n)
        yield depth
        outbox = GaugeMetricFamily("smsgate_callback_outbox", "Callback events waiting (PENDING)"
                                   " and given up (FAILED)", labels=["state"])
        for state, n in outbox_depth(db()).items():
            outbox.add_metric([state], n)
        yield outbox

    return read


def channel_gauges(channels: Callable[[], Iterable], retired: dict[str, SessionStats]
                   ) -> Callable[[], Iterable]:
    """Per channel, over the binds this process holds: submit_sm and receipt counters (their
    rates are submit_sm/s and receipts/s; ``retired`` holds the totals of binds given back, so
    a rebalance never looks like a counter reset), window use and size, binds up, and the
    submit_sm round-trip latency."""

    def read() -> Iterable:
        totals: dict[str, SessionStats] = {}
        window: Tally[str] = Tally()
        size: Tally[str] = Tally()
        up: Tally[str] = Tally()
        for name, stats in retired.items():
            totals.setdefault(name, SessionStats()).add(stats)
        for channel in channels():
            stats = channel.stats
            totals.setdefault(channel.name, SessionStats()).add(stats)
            window[channel.name] += stats.window_in_use
            size[channel.name] += channel.config.window
            up[channel.name] += 1 if channel.up else 0
        families = {
            "submits": CounterMetricFamily("smsgate_smpp_submits", "submit_sm accepted", labels=["channel"]),
            "errors": CounterMetricFamily("smsgate_smpp_submit_errors", "submit_sm refused or lost",
                                          labels=["channel"]),
            "receipts": CounterMetricFamily("smsgate_smpp_receipts", "Delivery receipts", labels=["channel"]),
            "window": GaugeMetricFamily("smsgate_smpp_window_in_use", "Outstanding submit_sm",
                                        labels=["channel"]),
            "size": GaugeMetricFamily("smsgate_smpp_window_size", "submit_sm allowed outstanding (all binds)",
                                      labels=["channel"]),
            "up": GaugeMetricFamily("smsgate_smpp_binds_up", "Binds of the channel bound now",
                                    labels=["channel"]),
            "latency": HistogramMetricFamily("smsgate_smpp_submit_seconds", "submit_sm to submit_sm_resp",
                                             labels=["channel"]),
        }
        for name, stats in sorted(totals.items()):
            families["submits"].add_metric([name], stats.submitted)
            families["errors"].add_metric([name], stats.submit_errors)
            families["receipts"].add_metric([name], stats.receipts)
            families["window"].add_metric([name], window[name])
            families["size"].add_metric([name], size[name])
            families["up"].add_metric([name], up[name])
            families["latency"].add_metric([name], stats.submit_latency.cumulative(),
                                           stats.submit_latency.total)
        yield from families.values()

    return read


def poster_counters(s: PosterStats) -> Callable[[], Iterable]:
    """Callback posts by outcome, events delivered, and events given up after the last attempt."""

    def read() -> Iterable:
        posts = CounterMetricFamily("smsgate_callback_posts", "Callback posts by outcome (error: a"
                                    " network error or a non-2xx answer)", labels=["outcome"])
        posts.add_metric(["ok"], s.delivered)
        posts.add_metric(["error"], s.errors)
        yield posts
        yield CounterMetricFamily("smsgate_callback_events_delivered", "Callback events the customers"
                                  " took (a batch is one post of several events)", value=s.events)
        yield CounterMetricFamily("smsgate_callback_given_up", "Callback events failed for good",
                                  value=s.given_up)

    return read


def unmatched_receipts(unmatched: Tally[tuple[str, str]]) -> Callable[[], Iterable]:
    """Delivery receipts credited to no message, by channel and reason: ``ambiguous`` (the id
    names several open parts), ``duplicate`` (it repeats a receipt already applied),
    ``unknown`` (it names no part we sent, 10 s after it came)."""

    def read() -> Iterable:
        family = CounterMetricFamily("smsgate_receipts_unmatched", "Delivery receipts credited to no"
                                     " message, by reason: ambiguous, duplicate, unknown",
                                     labels=["channel", "reason"])
        for (channel, reason), n in sorted(unmatched.items()):
            family.add_metric([channel, reason], n)
        yield family

    return read


def delivery_latency(latency: Latency) -> Callable[[], Iterable]:
    """Accepted to final (receipt stored, or given up), for messages this process settled."""

    def read() -> Iterable:
        histogram = HistogramMetricFamily("smsgate_delivery_seconds", "Accepted to a final state")
        histogram.add_metric([], latency.cumulative(), latency.total)
        yield histogram

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
