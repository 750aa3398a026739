"""/metrics figures that are computed here rather than by prometheus_client: channel totals over
binds (and binds given back), and latency buckets."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from smsgate.latency import Latency
from smsgate.metrics import Metrics, channel_gauges
from smsgate.smpp.session import SessionStats


@dataclass
class Config:
    window: int = 10


@dataclass
class Bind:
    name: str
    up: bool = True
    stats: SessionStats = field(default_factory=SessionStats)
    config: Config = field(default_factory=Config)


def scrape(metrics: Metrics) -> dict[tuple[str, tuple], float]:
    text = metrics.render().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_channel_is_one_series_over_its_binds_and_keeps_the_counts_of_binds_given_back() -> None:
    a, b, other = Bind("cmcc"), Bind("cmcc", up=False), Bind("cu")
    a.stats.submitted, b.stats.submitted, other.stats.submitted = 5, 7, 1
    a.stats.window_in_use = 3
    a.stats.submit_latency.observe(0.004)
    b.stats.submit_latency.observe(0.2)
    binds = [a, b, other]
    retired: dict[str, SessionStats] = {}
    metrics = Metrics()
    metrics.watch(channel_gauges(lambda: binds, retired))
    cmcc = (("channel", "cmcc"),)
    s = scrape(metrics)
    assert s[("smsgate_smpp_submits_total", cmcc)] == 12
    assert (s[("smsgate_smpp_binds_up", cmcc)], s[("smsgate_smpp_window_size", cmcc)]) == (1, 20)
    assert s[("smsgate_smpp_window_in_use", cmcc)] == 3
    assert s[("smsgate_smpp_submit_seconds_count", cmcc)] == 2
    assert s[("smsgate_smpp_submit_seconds_bucket", (*cmcc, ("le", "0.005")))] == 1
    assert s[("smsgate_smpp_submit_seconds_bucket", (*cmcc, ("le", "0.25")))] == 2
    # b is given back (another worker takes the slot): its seven submits still count here
    binds.remove(b)
    retired.setdefault("cmcc", SessionStats()).add(b.stats)
    s = scrape(metrics)
    assert s[("smsgate_smpp_submits_total", cmcc)] == 12 and s[("smsgate_smpp_binds_up", cmcc)] == 1
    assert s[("smsgate_smpp_submits_total", (("channel", "cu"),))] == 1


def test_latency_buckets_are_cumulative_and_end_with_inf() -> None:
    latency = Latency()
    for seconds in (0.0005, 0.001, 0.03, 7200):
        latency.observe(seconds)
    cumulative = dict(latency.cumulative())
    assert (cumulative["0.001"], cumulative["0.05"], cumulative["3600.0"], cumulative["+Inf"]) == (2, 3, 3, 4)
    assert latency.total == 0.0005 + 0.001 + 0.03 + 7200
