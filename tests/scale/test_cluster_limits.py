"""A channel's cluster_tps holds across workers: they share one rate through Redis."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.cluster import Cluster

pytestmark = pytest.mark.slow  # starts smsgate processes


def test_two_workers_together_keep_to_the_channels_cluster_tps(tmp_path: Path) -> None:
    # the default bind lease: a 3 s one must be renewed within 0.6 s, which a loaded machine
    # misses, and a bind dropped for it mid-send may send a part twice
    cluster = Cluster(tmp_path, binds=2, channel_extra="cluster_tps = 300\n")
    try:
        url = cluster.start_api()
        cluster.start_worker(), cluster.start_worker()
        cluster.wait_binds_shared()  # both send
        with httpx.Client(timeout=30) as http:
            for b in range(2):
                assert cluster.post(http, url, cluster.batch(b * 1000, 750, text="周末特惠，拒收请回复R")).status_code == 200
        cluster.wait_settled(90)
        times = sorted(datetime.fromisoformat(line["time"]).timestamp() for line in cluster.records())
    finally:
        cluster.close()
    assert len(times) == 1500
    busiest = max(sum(1 for t in times[i:i + 500] if t < start + 1.0) for i, start in enumerate(times))
    # 300/s, plus the bucket's burst (0.1 s) and one reserved chunk per worker (0.1 s each)
    assert busiest <= 300 + 30 + 2 * 30
    assert times[-1] - times[0] >= (1500 - 90) / 300 * 0.95
