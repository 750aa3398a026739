"""A worker process on its own: what it shows operators."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.cluster import Cluster
from tests.live import free_port
from tests.wait import wait_until

pytestmark = pytest.mark.slow  # starts smsgate processes


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a scrape by (name, labels); a repeated series fails the test, since
    Prometheus refuses a whole scrape that holds one."""
    seen = Counter((s.name, tuple(sorted(s.labels.items())))
                   for family in text_string_to_metric_families(text) for s in family.samples)
    assert [k for k, n in seen.items() if n > 1] == []
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_worker_serves_its_channel_and_queue_metrics(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, binds=2, redis=False)  # both binds in this one worker
    try:
        port = free_port()
        cluster.start_worker("--metrics-port", str(port))
        url = cluster.start_api()
        with httpx.Client(timeout=30) as http:
            assert cluster.post(http, url, cluster.batch(0, 20)).status_code == 200
        cluster.wait_settled(60)

        def scraped() -> dict | None:
            s = samples(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)
            return s if s.get(("smsgate_delivery_seconds_count", ())) == 20 else None

        s = wait_until(scraped, 30, "the worker's metrics count the settled messages")
    finally:
        cluster.close()
    sim = (("channel", "sim"),)
    assert s[("smsgate_smpp_submits_total", sim)] == 20  # one series for the channel's two binds
    assert s[("smsgate_smpp_binds_up", sim)] == 2
    assert s[("smsgate_smpp_window_size", sim)] == 2 * 64 and s[("smsgate_smpp_window_in_use", sim)] == 0
    assert s[("smsgate_smpp_submit_seconds_count", sim)] == 20
    assert s[("smsgate_smpp_submit_seconds_bucket", (*sim, ("le", "+Inf")))] == 20
    assert s[("smsgate_smpp_receipts_total", sim)] == 20
    assert s[("smsgate_delivery_seconds_bucket", (("le", "+Inf"),))] == 20
    queue = {state: s[("smsgate_queue_depth", (("state", state),))] for state in ("due", "held", "sending", "submitted")}
    assert queue == {"due": 0, "held": 0, "sending": 0, "submitted": 0}  # final messages are not a queue
    assert s[("smsgate_callback_posts_total", (("outcome", "error"),))] == 0


def test_a_metrics_port_in_use_is_one_line_before_anything_binds(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "smsgate", "worker", "--data-dir", str(tmp_path),
                               "--metrics-port", str(port), "--sim-port", "0"],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"smsgate: error: --metrics-port {port}: ") and "in use" in line
