"""SIGTERM on `smsgate api` and `smsgate worker`: no new work, what is in flight finished or
given back, and an exit within SMSGATE_STOP_TIMEOUT, even when the store stops answering."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cluster import Cluster
from tests.faults import FaultProxy
from tests.scale.test_faults import FAST_LEASES, FINAL, Clients, stored_states
from tests.wait import wait_until

pytestmark = pytest.mark.slow  # starts smsgate processes

STOP = {"SMSGATE_STOP_TIMEOUT": "6"}  # the batch in hand gets a third of it: 2 s


@pytest.fixture
def cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    made = Cluster(tmp_path, **getattr(request, "param", {}))
    yield made
    made.close()


def stop(process, within: float) -> tuple[int, float]:
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=within + 10)
    return code, time.monotonic() - started


@pytest.mark.parametrize("cluster", [{"binds": 1, "env_extra": STOP, "channel_extra": "window = 2\n",
                                      "sim_args": ("--latency-ms", "20")}], indirect=True)
def test_a_worker_stopped_mid_batch_gives_back_what_it_has_not_sent(cluster: Cluster) -> None:
    """An SMSC too slow for the batch in hand to finish within the grace: the parts sent get
    their answers, the rest goes back to the queue at once (not after the 60 s lease)."""
    url = cluster.start_api()
    first = cluster.start_worker()
    standby = cluster.start_worker()
    with httpx.Client(timeout=30) as http:
        assert cluster.post(http, url, cluster.batch(0, 999)).status_code == 200
    wait_until(lambda: sum(cluster.submits().values()) > 50, 30, "delivery starts")
    code, took = stop(first, 6)
    assert code == 0 and took < 6
    assert not cluster.query("SELECT 1 FROM messages WHERE state='SENDING' AND owner LIKE %s",
                             (f"%:{first.pid}:%",))  # nothing left claimed by it
    counts = cluster.wait_settled(40)  # the standby took the bind and the rest, no lease waited out
    assert sum(counts.values()) == 999 and set(counts) <= FINAL
    assert len(cluster.submits()) == 999 and cluster.duplicate_parts() == 0
    assert standby.poll() is None


@pytest.mark.parametrize("cluster", [{"env_extra": STOP}], indirect=True)
def test_an_api_stopped_under_load_answers_what_it_took_and_exits_0(cluster: Cluster) -> None:
    url = cluster.start_api()
    clients = Clients(cluster, url)
    wait_until(lambda: len(clients.acknowledged) >= 1000, 60, "traffic flows")
    code, took = stop(cluster.apis[0][0], 6)
    clients.stop()
    assert code == 0 and took < 6
    acknowledged = list(clients.acknowledged)
    assert len(stored_states(cluster, acknowledged)) == len(acknowledged)
    assert set(clients.codes) <= {"200", "transport"}  # refused connections once it stopped


@pytest.mark.parametrize("cluster", [{"env_extra": {**STOP, **FAST_LEASES}}], indirect=True)
def test_a_worker_whose_store_hangs_still_stops_within_the_timeout(cluster: Cluster) -> None:
    url = cluster.start_api()
    with FaultProxy("127.0.0.1", 5432) as proxy:
        worker = cluster.start_worker(env={"SMSGATE_DATABASE_URL": proxy.url(cluster.database_url)})
        with httpx.Client(timeout=30) as http:
            assert cluster.post(http, url, cluster.batch(0, 999)).status_code == 200
        wait_until(lambda: sum(cluster.submits().values()) > 20, 30, "delivery starts")
        proxy.stall()  # every write of the orderly stop now hangs
        code, took = stop(worker, 6)
    assert took < 6 + 1  # ended by its own bound (exit status 70), not by a supervisor's kill
    assert code in (0, 70)
    cluster.start_worker()
    counts = cluster.wait_settled(60)  # what it held comes back to another once its lease ends
    assert sum(counts.values()) == 999


@pytest.mark.parametrize("cluster", [{"env_extra": STOP}], indirect=True)
def test_an_api_whose_store_hangs_still_stops_within_the_timeout(cluster: Cluster) -> None:
    with FaultProxy("127.0.0.1", 5432) as proxy:
        cluster.env["SMSGATE_DATABASE_URL"] = proxy.url(cluster.database_url)
        url = cluster.start_api()
        clients = Clients(cluster, url)
        wait_until(lambda: len(clients.acknowledged) >= 200, 60, "traffic flows")
        proxy.stall()
        wait_until(lambda: proxy.held, 10, "requests hang in the store")  # the event loop with them
        code, took = stop(cluster.apis[0][0], 6)
        clients.stop()
    assert took < 6 + 1 and code in (0, 70)
