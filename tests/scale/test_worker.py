"""A worker process on its own: what it shows operators."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.cluster import Cluster, wait_until
from tests.live import free_port


def test_a_worker_serves_its_channel_and_queue_metrics(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, binds=1, redis=False)
    try:
        port = free_port()
        cluster.start_worker("--metrics-port", str(port))
        url = cluster.start_api()
        with httpx.Client(timeout=30) as http:
            assert cluster.post(http, url, cluster.batch(0, 20)).status_code == 200
        cluster.wait_settled(60)

        def scraped() -> str | None:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            return text if 'smsgate_smpp_submits_total{channel="sim"} 20.0' in text else None

        text = wait_until(scraped, 30, "the worker's metrics count the submits")
    finally:
        cluster.close()
    assert 'smsgate_smpp_up{channel="sim"} 1.0' in text
    assert 'smsgate_queue_depth{state="DELIVERED"}' in text or 'smsgate_queue_depth{state="FAILED"}' in text
