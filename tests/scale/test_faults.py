"""Faults in a scaled-out smsgate (API and worker processes on the real PostgreSQL and Redis,
delivering to a standalone simulator): nothing acknowledged is lost, nothing whose
submit_sm_resp was stored is submitted twice, and every process recovers by itself."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


from tests.cluster import Cluster
from tests.faults import FaultProxy
from tests.wait import wait_until

pytestmark = pytest.mark.slow  # starts smsgate processes

FINAL = {"DELIVERED", "FAILED", "EXPIRED"}
FAST_LEASES = {"SMSGATE_LEASE_MS": "3000", "SMSGATE_BIND_LEASE_MS": "3000"}


@pytest.fixture
def cluster_factory(tmp_path: Path) -> Iterator:
    made: list[Cluster] = []

    def make(**kwargs) -> Cluster:
        made.append(Cluster(tmp_path / f"c{len(made)}", **kwargs))
        return made[-1]

    yield make
    for cluster in made:
        cluster.close()


class Clients:
    """Threads posting 200-message batches until stopped; they keep what a 200 acknowledged."""

    def __init__(self, cluster: Cluster, url: str, threads: int = 2) -> None:
        self.cluster, self.url = cluster, url
        self.acknowledged: list[str] = []
        self.codes: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(threads)]
        for t in self._threads:
            t.start()

    def _run(self, n: int) -> None:
        batch = 0
        with httpx.Client(timeout=15) as http:
            while not self._stop.is_set():
                first = (n * 10_000 + batch) * 200
                batch += 1
                try:
                    r = self.cluster.post(http, self.url, self.cluster.batch(first, 200))
                except httpx.TransportError:
                    self.codes.append("transport")
                    time.sleep(0.1)  # a client's pause before it tries again (not synchronisation)
                    continue
                if r.status_code == 200:
                    self.acknowledged += [x["message_id"] for x in r.json()["result"] if "message_id" in x]
                    self.codes.append("200")
                else:
                    self.codes.append(r.json().get("code", str(r.status_code)))
                    time.sleep(0.1)  # likewise

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)


def stored_states(cluster: Cluster, ids: list[str]) -> dict[str, str]:
    rows = cluster.query("SELECT id, state FROM messages WHERE id = ANY(%s)", (ids,))
    return dict(rows)


def test_kill_9_of_an_api_process_loses_no_acknowledged_message(cluster_factory) -> None:
    cluster = cluster_factory()
    doomed, survivor = cluster.start_api(), cluster.start_api()
    cluster.start_worker()
    clients = Clients(cluster, doomed)
    wait_until(lambda: len(clients.acknowledged) >= 2000, 60, "clients are acknowledged")
    cluster.apis[0][0].send_signal(signal.SIGKILL)
    cluster.apis[0][0].wait()
    clients.stop()
    acknowledged = list(clients.acknowledged)
    with httpx.Client(timeout=15) as http:  # the other API process goes on
        assert cluster.post(http, survivor, cluster.batch(90_000_000, 10)).status_code == 200
    cluster.wait_settled(90)
    states = stored_states(cluster, acknowledged)
    assert len(states) == len(acknowledged)  # every acknowledged id is in the store ...
    assert set(states.values()) <= FINAL  # ... and was delivered (or failed at the carrier)
    submits = cluster.submits()
    destinations = {r[0] for r in cluster.query("SELECT e164 FROM messages WHERE id = ANY(%s)", (acknowledged,))}
    assert all(submits[d.lstrip("+")] == 1 for d in destinations)


def test_kill_9_of_a_worker_loses_nothing_and_resends_no_stored_part(cluster_factory) -> None:
    bound = 256  # set lower than the default, so that the bound is what is tested
    cluster = cluster_factory(sim_args=("--latency-ms", "3"),
                              env_extra={**FAST_LEASES, "SMSGATE_UNRECORDED_MAX": str(bound)},
                              channel_extra="window = 8\n")
    url = cluster.start_api()
    victim, other = cluster.start_worker(), cluster.start_worker()
    with httpx.Client(timeout=30) as http:
        for b in range(6):
            assert cluster.post(http, url, cluster.batch(b * 1000, 999)).status_code == 200
    total = 6 * 999
    # kill the victim while it holds claimed messages, mid-stream
    owner = wait_until(lambda: cluster.query(
        "SELECT owner FROM messages WHERE state='SENDING' AND owner LIKE %s LIMIT 1",
        (f"%:{victim.pid}:%",)), 60, "the victim holds messages")[0][0]
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    # what the victim had stored can never be sent again; what it held is taken over
    stored = {r[0] for r in cluster.query(
        "SELECT m.e164 FROM messages m JOIN message_parts p ON p.message_id=m.id WHERE p.carrier_id IS NOT NULL")}
    held = [r[0] for r in cluster.query("SELECT id FROM messages WHERE owner=%s", (owner,))]
    assert held and other.poll() is None
    counts = cluster.wait_settled(120)
    assert sum(counts.values()) == total and set(counts) <= FINAL
    assert set(stored_states(cluster, held).values()) <= FINAL
    submits = cluster.submits()
    assert len(submits) == total  # every message reached the SMSC
    resent_after_storing = [d for d in stored if submits[d.lstrip("+")] > 1]
    assert resent_after_storing == []
    # parts sent in the victim's last moments and not yet stored: never more than the bound,
    # however slow its store was then (a count, not a time: under load writes take longer)
    in_flight_duplicates = sum(n - 1 for n in submits.values() if n > 1)
    assert in_flight_duplicates <= bound


def test_an_smsc_that_drops_throttles_and_stalls_gets_everything_once_it_behaves(cluster_factory) -> None:
    cluster = cluster_factory(sim_args=("--drop-after", "700", "--throttle-every", "97"),
                              channel_extra="response_timeout = 1.0\nthrottle_backoff = 0.2\n", binds=1)
    with FaultProxy("127.0.0.1", cluster.sim_port) as proxy:  # the worker reaches the SMSC through it
        cluster.write_channels(proxy.port)
        url = cluster.start_api()
        cluster.start_worker()
        # The stall often begins just as the simulator cuts the link (after 700 submits, about
        # when 500 are delivered): the rebind then hangs in it and messages wait for a channel
        # instead of timing out in a submit.  Either is the worker coping; what the test needs
        # is that the stall bit, and that everything goes once afterwards.  The last two
        # batches are posted during the stall, so there is always work to meet it.
        stalled = ("no submit_sm_resp in time", "not bound", "no channel is up for this number")

        def failed_in_stall() -> set[str]:
            return {r[0] for r in cluster.query(
                "SELECT id FROM messages WHERE status_desc = ANY(%s)", (list(stalled),))}

        with httpx.Client(timeout=30) as http:
            for b in range(2):
                assert cluster.post(http, url, cluster.batch(b * 1000, 999)).status_code == 200
            wait_until(lambda: cluster.states()["DELIVERED"] > 500, 60, "delivery starts")
            before = failed_in_stall()
            proxy.stall()  # the SMSC never answers, until submits have failed ...
            for b in range(2, 4):
                assert cluster.post(http, url, cluster.batch(b * 1000, 999)).status_code == 200
        wait_until(lambda: failed_in_stall() - before, 30, "submits fail in the stall")
        proxy.restore()  # ... and then behaves again
        counts = cluster.wait_settled(120)
    assert sum(counts.values()) == 4 * 999 and set(counts) <= FINAL
    submits = cluster.submits()
    assert len(submits) == 4 * 999  # nothing lost, over links each cut after 700 submits
    assert cluster.workers[0].poll() is None  # the same worker reconnected each time
    # sent again: only parts whose answer was lost, at most a window (64) per cut or stall
    assert cluster.duplicate_parts() <= 64 * (sum(submits.values()) // 700 + 1)


def test_postgres_down_answers_503_and_everything_recovers_by_itself(cluster_factory) -> None:
    """PostgreSQL unreachable (the proxy cuts every connection and refuses new ones), then
    back; then every session ended by the server: what a restart looks like to its clients,
    without restarting the server other tests share."""
    with FaultProxy("127.0.0.1", 5432) as proxy:  # the processes reach PostgreSQL through it
        cluster = cluster_factory(db_proxy=proxy)
        url = cluster.start_api()
        cluster.start_worker()
        clients = Clients(cluster, url)
        wait_until(lambda: len(clients.acknowledged) >= 1000, 60, "traffic flows")
        proxy.cut()  # PostgreSQL goes away under load
        wait_until(lambda: clients.codes.count("SMN.0018") >= 3, 30, "the API answers 503 SMN.0018")
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 503
        proxy.restore()
        before = len(clients.acknowledged)
        wait_until(lambda: len(clients.acknowledged) > before + 1000, 60, "the API recovers by itself")
        # the server itself now ends every session of the cluster, as a restart does
        [(ended,)] = cluster.query("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                                   " WHERE application_name=%s", (cluster.schema.name,))
        assert ended >= 2  # sessions of the API and of the worker (each reconnects when it next needs one)
        before = len(clients.acknowledged)
        wait_until(lambda: len(clients.acknowledged) > before + 1000, 60, "and recovers again")
        clients.stop()
        acknowledged = list(clients.acknowledged)
        cluster.wait_settled(120)  # and so does the worker
        states = stored_states(cluster, acknowledged)
        assert len(states) == len(acknowledged) and set(states.values()) <= FINAL
        assert "transport" not in clients.codes  # the API process never died


def test_redis_down_fails_closed_on_caps_and_channel_rates_and_then_all_goes_once(cluster_factory) -> None:
    """Redis keeps the daily caps and the channel's cluster_tps.  While it hangs, a batch
    answers 503 SMN.0018 and keeps nothing, and no worker submits past the rate it cannot
    check; once it answers again, everything accepted is delivered, each part once."""
    with FaultProxy("127.0.0.1", 6379) as proxy:  # the processes reach Redis through it
        cluster = cluster_factory(redis_proxy=proxy, channel_extra="cluster_tps = 400\n")
        url = cluster.start_api()
        cluster.start_worker(), cluster.start_worker()
        cluster.wait_binds_shared()  # both send
        with httpx.Client(timeout=30) as http:
            for b in range(4):
                assert cluster.post(http, url, cluster.batch(b * 1000, 999)).status_code == 200
            wait_until(lambda: sum(cluster.submits().values()) > 300, 60, "delivery starts")
            proxy.stall()  # Redis hangs: every call runs into its timeout
            r = cluster.post(http, url, cluster.batch(9000, 10))
            assert (r.status_code, r.json()["code"]) == (503, "SMN.0018")
            # each worker's step ends once the rate cannot be checked, all its sends over
            wait_until(lambda: all("dispatch_paused" in cluster.log_of(w) for w in cluster.workers), 30,
                       "both workers pause")
            paused = sum(cluster.submits().values())
            time.sleep(2)  # not synchronisation: a window in which nothing may be sent
            assert sum(cluster.submits().values()) == paused < 4 * 999  # nothing past the rate
            proxy.restore()
            assert cluster.post(http, url, cluster.batch(9000, 10)).status_code == 200
        counts = cluster.wait_settled(120)
    assert sum(counts.values()) == 4 * 999 + 10 and set(counts) <= FINAL
    assert len(cluster.submits()) == 4 * 999 + 10 and cluster.duplicate_parts() == 0
    assert all(w.poll() is None for w in cluster.workers)


def test_a_worker_whose_store_hangs_unbinds_before_another_takes_its_slot(cluster_factory) -> None:
    """The store stops answering one worker (a hung connection, not a refused one): it must
    give its bind up while its lease still holds, so the SMSC never sees two binds for one
    slot, and the standby takes the slot over."""
    cluster = cluster_factory(env_extra=FAST_LEASES, binds=1)
    with FaultProxy("127.0.0.1", 5432) as proxy:
        held_up = cluster.start_worker(env={"SMSGATE_DATABASE_URL": proxy.url(cluster.database_url)})
        standby = cluster.start_worker()
        assert cluster.smpp_sessions() == 1
        proxy.stall()
        most, deadline = 0, time.monotonic() + 12  # four bind leases
        while time.monotonic() < deadline:  # not synchronisation: binds sampled over the window
            most = max(most, cluster.smpp_sessions())
            time.sleep(0.05)
        [(owner,)] = cluster.query("SELECT owner FROM bind_leases WHERE channel='sim'")
        proxy.restore()
    assert most == 1  # one bind at every moment ...
    assert owner.split(":")[1] == str(standby.pid) and held_up.poll() is None  # ... the standby's now


def test_sigterm_stops_a_worker_promptly_and_hands_its_binds_over(cluster_factory) -> None:
    # the bind is handed over because it is released, not because its lease ends: the default
    # bind lease (renewals may take 3 s) keeps a loaded machine from dropping it mid-send
    cluster = cluster_factory(env_extra={"SMSGATE_LEASE_MS": "3000"}, binds=1,
                              sim_args=("--latency-ms", "2"))
    url = cluster.start_api()
    first = cluster.start_worker()
    wait_until(lambda: cluster.query("SELECT owner FROM bind_leases WHERE channel='sim'"), 30, "a worker binds")
    second = cluster.start_worker()  # a standby: the one slot is taken
    with httpx.Client(timeout=30) as http:
        for b in range(3):
            assert cluster.post(http, url, cluster.batch(b * 1000, 999)).status_code == 200
    wait_until(lambda: cluster.states()["DELIVERED"] > 100, 60, "delivery starts")
    started = time.monotonic()
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=20) == 0
    assert time.monotonic() - started < 15  # the grace period bounds it
    assert not cluster.query("SELECT 1 FROM messages WHERE state='SENDING' AND owner LIKE %s",
                             (f"%:{first.pid}:%",))  # nothing left claimed
    counts = cluster.wait_settled(60)  # the standby took the bind over and finished
    assert sum(counts.values()) == 3 * 999
    assert cluster.query("SELECT owner FROM bind_leases WHERE channel='sim'")[0][0].split(":")[1] == str(second.pid)
    assert sum(n - 1 for n in cluster.submits().values() if n > 1) == 0
