"""Latency as bucket counts, cheap enough to bump once per SMS part (a bisect and two adds, no
lock: each counter belongs to one event loop), rendered as a Prometheus histogram at scrape time
by :mod:`smsgate.metrics`.  prometheus_client's own Histogram takes a lock and walks every bucket
on each observation, and it would make the SMPP session depend on the metrics registry.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

#: upper bounds, in seconds: a submit_sm round trip is milliseconds, a delivery receipt minutes
SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
           30.0, 60.0, 300.0, 1800.0, 3600.0)


@dataclass(slots=True)
class Latency:
    counts: list[int] = field(default_factory=lambda: [0] * (len(SECONDS) + 1))  # last: +Inf
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(SECONDS, seconds)] += 1
        self.total += seconds

    def add(self, other: Latency) -> None:
        for i, n in enumerate(other.counts):
            self.counts[i] += n
        self.total += other.total

    def cumulative(self) -> list[tuple[str, int]]:
        """``(le, count)`` pairs as Prometheus wants them, ending with ``+Inf``."""
        out, running = [], 0
        for bound, n in zip((*map(str, SECONDS), "+Inf"), self.counts):
            running += n
            out.append((bound, running))
        return out
