"""The delivery side of the service: channels, the dispatcher and the callback poster.

``smsgate serve`` runs it in a process of its own beside the API's (``cli.supervise``), on its
own store gate (``store.gate``) over the same store; with no channel configured it starts the
built-in SMSC simulator and delivers to it, so a fresh install delivers end to end.  ``smsgate worker`` runs it alone (see :func:`run`), as many times
as wanted against one PostgreSQL: each bind slot of a configured channel is leased to one worker
(``store.binds``), and messages are claimed with ``SKIP LOCKED``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from smsgate import shutdown
from smsgate.callbacks.poster import Poster
from smsgate.callbacks.targets import CallbackGuard, CallbackPolicy
from smsgate.domain.records import now_ms
from smsgate.dispatch.dispatcher import Dispatcher, DispatchSettings
from smsgate.dispatch.router import Router
from smsgate.limits.rate import LocalRate, RateLimiter, TokenReserve
from smsgate.domain.window import SendWindow
from smsgate.metrics import (
    CONTENT_TYPE,
    Metrics,
    channel_gauges,
    delivery_latency,
    poster_counters,
    store_gauges,
    unmatched_receipts,
)
from smsgate.smpp.config import SmppConfig, load_channels
from smsgate.smpp.session import SessionStats, SmppChannel
from smsgate.smsc.control import start_control
from smsgate.smsc.simulator import SimConfig, Simulator
from smsgate.config import Settings
from smsgate.store.binds import BindLeases, new_owner
from smsgate.store.delivery import DeliveryStore
from smsgate.store.gate import StoreGate
from smsgate.store.outbox import OutboxStore

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger("smsgate.worker")

GRACE_SHARE = 3  # the batch in hand may take a third of SMSGATE_STOP_TIMEOUT (10 s) to finish
STORE_WAIT_S = 2.0  # for each store write while stopping
BIND_MARGIN_S = 1.0  # a bind is dropped this long before its lease could lapse


class Secrets(Protocol):
    """Opens a project's sealed callback key (``auth.secrets.SecretBox``)."""

    def open(self, sealed: bytes) -> str: ...


class Worker:
    """Delivery on one store gate.  ``guard`` and ``rate`` may be shared with an API in the
    same process; else the worker makes its own from the settings."""

    def __init__(self, gate: StoreGate, secrets: Secrets, metrics: Metrics, *,
                 guard: CallbackGuard | None = None, rate: RateLimiter | None = None) -> None:
        settings = gate.settings
        self.state = gate
        self.metrics = metrics
        self._secret_box = secrets
        self._guard = guard or CallbackGuard(CallbackPolicy(settings.callback_allow))
        self._rate = rate or _rate_for(settings)
        self._projects: dict[str, tuple[int | None, str | None]] = {}  # id: (version, window)
        self.owner = new_owner()
        self.simulator: Simulator | None = None
        self.channels: list[SmppChannel] = []
        self._configured: list[tuple[SmppConfig, list[str]]] = []
        self._slots: dict[tuple[str, int], SmppChannel] = {}  # bind slots this worker holds
        self._retired: dict[str, SessionStats] = {}  # counts of binds given back, by channel
        self._leases = BindLeases(gate.writer.db, self.owner)
        self._leases_until = 0.0  # (monotonic) until when the store surely has our bind leases
        self._bind_lease_ms = settings.bind_lease_ms  # a dead worker's binds lapse then
        self.dispatcher: Dispatcher | None = None
        self._poster: Poster | None = None
        self._tasks: list[asyncio.Task] = []
        self._windows: dict[str | None, SendWindow] = {}
        self._secrets: dict[str, str] = {}
        self._control: asyncio.Server | None = None

    async def start(self) -> None:
        routes = await self._routes()
        router = Router(routes, self._elsewhere())
        writer_db = self.state.writer.db
        outbox = OutboxStore(writer_db)
        settings = DispatchSettings(lease_ms=self.state.settings.lease_ms,
                                    unrecorded_max=self.state.settings.unrecorded_max)
        self.dispatcher = Dispatcher(self.state.write, DeliveryStore(writer_db), outbox, router,
                                     self._window_for, self.state.settings.zone, settings,
                                     owner=self.owner, rates=self._rates())
        self._poster = Poster(self.state.write, outbox, self._secret_for, self._guard,
                              per_project=self.state.settings.callback_concurrency)
        self.dispatcher.handoff = self._poster.hand  # status events posted from memory
        metrics = self.metrics
        metrics.watch(channel_gauges(lambda: self.channels, self._retired))
        metrics.watch(poster_counters(self._poster.stats))
        metrics.watch(delivery_latency(self.dispatcher.delivery_latency))
        metrics.watch(unmatched_receipts(self.dispatcher.unmatched))
        for channel in self.channels:
            await channel.start()
        self._tasks = [asyncio.create_task(self.dispatcher.run(), name="dispatcher"),
                       asyncio.create_task(self._poster.run(), name="callbacks")]
        if self._configured:
            self._tasks.append(asyncio.create_task(self._keep_binds(), name="binds"))

    async def _routes(self) -> list[tuple[SmppChannel, list[str]]]:
        settings = self.state.settings
        if settings.channels_file is not None:
            self._configured = load_channels(settings.channels_file)
            return [(channel, prefixes) for channel, prefixes, _ in await self._acquire()]
        else:
            self.simulator = Simulator(SimConfig(port=_free_or(settings.sim_port)))
            await self.simulator.start()
            # the control port (for `smsgate smsc-sim mo`) is the SMPP port + 1 when free
            self._control = await start_control(self.simulator, _free_or(self.simulator.port + 1))
            log.info("simulator_channel", extra={"port": self.simulator.port})  # no channel configured
            sim = SmppConfig(name="simulator", host="127.0.0.1", port=self.simulator.port,
                             system_id="smsgate", password="", source_addr="10690000")
            self.channels = [SmppChannel(sim)]
            return [(self.channels[0], ["*"])]

    def _rates(self) -> dict[str, TokenReserve]:
        """Each channel's ``cluster_tps``, shared by every worker through Redis (without
        Redis, this process alone keeps to it)."""
        limiter = self._rate or LocalRate()
        return {config.name: TokenReserve(limiter, f"channel:{config.name}", config.cluster_tps)
                for config, _ in self._configured if config.cluster_tps > 0}

    # --- bind slots --------------------------------------------------------------------------

    async def _acquire(
        self, timeout: float | None = None,
    ) -> list[tuple[SmppChannel, list[str], tuple[str, int]]]:
        """Lease free bind slots of the configured channels up to this worker's share (a new
        channel per slot), and hand back what is over the share once more workers run.  With
        ``timeout``, each store write may take that long at most (TimeoutError)."""
        now, asked_at = now_ms(), time.monotonic()

        async def write(fn: Any, *args: Any) -> Any:
            return await asyncio.wait_for(self.state.write(fn, *args), timeout)

        workers = await write(self._leases.heartbeat, now, self._bind_lease_ms)
        granted: list[tuple[SmppConfig, list[str], int]] = []
        new = []
        for config, prefixes in self._configured:
            share = -(-config.binds // max(workers, 1))
            mine = sorted(slot for name, slot in self._slots if name == config.name)
            for slot in mine[share:]:  # over the share: unbind first, then free the slot
                await self._drop((config.name, slot), reason="rebalanced")
                await write(self._leases.release, [(config.name, slot)])
            slots = await write(self._leases.acquire, config.name, config.binds, now,
                                self._bind_lease_ms, share)
            granted += [(config, prefixes, slot) for slot in slots]
        # channels only once every write went through: a failure half-way leaves none behind
        # unstarted (the slots it did get are this worker's and come back next round)
        for config, prefixes, slot in granted:
            if (config.name, slot) not in self._slots:
                channel = SmppChannel(config)
                self._slots[(config.name, slot)] = channel
                self.channels.append(channel)
                new.append((channel, prefixes, (config.name, slot)))
        self._leases_until = asked_at + self._bind_lease_ms / 1000
        if new:
            log.info("binds_acquired", extra={"slots": [slot for *_, slot in new]})
        return new

    def _elsewhere(self) -> list[list[str]]:
        """Prefixes of channels with bind slots this worker does not hold."""
        return [prefixes for config, prefixes in self._configured
                if sum(1 for name, _ in self._slots if name == config.name) < config.binds]

    async def _keep_binds(self) -> None:
        """Renew this worker's bind leases; drop a bind whose lease another worker took; take
        over slots that fell free (a worker died or stopped).  A renewal that fails or hangs
        (a store that does not answer) counts as unconfirmed, and every bind is dropped while
        the lease the store last confirmed still holds, before another worker may take it:
        a slot never has two binds."""
        assert self.dispatcher is not None
        every = self._bind_lease_ms / 5000  # a renewal's round, and how long it may take
        while True:
            await asyncio.sleep(every)
            asked_at = time.monotonic()
            try:
                renewal = self.state.write(self._leases.renew, now_ms(), self._bind_lease_ms)
                held = set(await asyncio.wait_for(renewal, every))
                self._leases_until = asked_at + self._bind_lease_ms / 1000
            except Exception as exc:
                log.warning("bind_lease_renewal_failed", extra={"error": repr(exc)})
                # the next round could confirm too late: unbind now, while the lease holds
                if time.monotonic() + 2 * every + BIND_MARGIN_S > self._leases_until:
                    await asyncio.gather(*(self._drop(slot, reason="lease unconfirmed")
                                           for slot in list(self._slots)))
                continue
            for slot in [s for s in self._slots if s not in held]:  # another worker took it
                await self._drop(slot)
            try:  # bounded as the renewal is: a store that hangs now must not keep this loop
                # from unbinding in time in the rounds to come
                fresh = await self._acquire(timeout=every)
            except Exception:
                log.warning("bind_acquire_failed", exc_info=True)
                continue
            for channel, prefixes, _ in fresh:
                self.dispatcher.add_channel(channel, prefixes)  # its receipts have a home first
                await channel.start()
            self.dispatcher.set_elsewhere(self._elsewhere())

    async def _drop(self, slot: tuple[str, int], reason: str = "lease lost") -> None:
        """Unbind a slot's channel.  While this worker's lease still holds (a rebalance, a
        renewal not confirmed), the parts already sent get their answers first, for as long
        as the lease allows; a slot another worker has taken is unbound at once."""
        channel = self._slots.pop(slot)
        log.warning("bind_dropped", extra={"slot": list(slot), "reason": reason})
        assert self.dispatcher is not None
        self.dispatcher.remove_channel(channel)
        self.channels.remove(channel)
        left = self._leases_until - BIND_MARGIN_S - time.monotonic()
        drain = 0.0 if reason == "lease lost" else max(0.0, min(channel.config.response_timeout, left))
        await channel.close(drain)
        self._retired.setdefault(channel.name, SessionStats()).add(channel.stats)

    def _window_for(self, project_id: str) -> SendWindow:
        reader, default = self.state.reader, self.state.settings.send_window
        version = reader.project_version(project_id)
        cached = self._projects.get(project_id)
        if cached is None or cached[0] != version:  # an admin change bumps the version
            project = reader.get_project(project_id) if version is not None else None
            window = project.effective_window(default) if project else None
            cached = self._projects[project_id] = (version, window)
        text = cached[1] or default
        if text not in self._windows:
            self._windows[text] = SendWindow.parse(text)
        return self._windows[text]

    def _secret_for(self, project_id: str) -> str:
        """The project's callback signing key (set once, at its first subscription)."""
        if project_id not in self._secrets:
            sealed = OutboxStore(self.state.reader.db).sealed_secret(project_id)
            if sealed is None:
                return ""  # not cached: the key may be created a moment later
            self._secrets[project_id] = self._secret_box.open(sealed)
        return self._secrets[project_id]

    async def close(self) -> None:
        """Stop taking work; finish the batch in hand (up to the grace period); past it, send
        no more parts but wait for the answers of those sent (a part whose answer is dropped
        would be sent again), and queue the rest again for other workers; unbind, give the
        bind slots back, stop the simulator.  Each step is bounded, so a store that stopped
        answering cannot hold the stop (see ``smsgate.shutdown``)."""
        if self.dispatcher is not None:
            self.dispatcher.stop()
        pending: set[asyncio.Task] = set()
        if self._tasks:
            grace = self.state.settings.stop_timeout_s / GRACE_SHARE
            _, pending = await asyncio.wait(self._tasks[:1], timeout=grace)
        if pending:  # a slow SMSC: what is not yet sent goes back to the queue
            for channel in self.channels:
                channel.stop_submitting()
            timeout = max((c.config.response_timeout for c in self.channels), default=0) + STORE_WAIT_S
            _, pending = await asyncio.wait(pending, timeout=timeout)
        for task in [*pending, *self._tasks[1:]]:
            task.cancel()
        if self._tasks:
            done, _ = await asyncio.wait(self._tasks, timeout=STORE_WAIT_S)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.warning("worker_task_failed", exc_info=task.exception())
        await asyncio.gather(*(channel.close() for channel in self.channels))
        if self._slots:
            with contextlib.suppress(Exception):  # unreleased slots lapse by themselves
                await asyncio.wait_for(self.state.write(self._leases.release), STORE_WAIT_S)
        if self._poster is not None:
            await self._poster.close()
        if self._control is not None:
            self._control.close()
            await self._control.wait_closed()
        if self.simulator is not None:
            await self.simulator.close()


def _free_or(port: int) -> int:
    """``port`` if it can be bound on loopback, else 0 (any free port)."""
    if port == 0:
        return 0
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            log.warning("simulator_port_taken", extra={"port": port})  # any free port instead
            return 0
    return port


def tune_gc() -> None:
    """Keep the start-up heap (lexicon tables, automata, modules) out of every collection, and
    collect the young generation less often: a 999-item batch, or a claim of hundreds of
    messages, allocates tens of thousands of short-lived objects, which with the default
    threshold (700) meant dozens of collections each.  Both of serve's processes run so."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)


def _rate_for(settings: Settings) -> RateLimiter | None:
    """The channels' shared rates: in Redis when configured (every worker takes from them)."""
    if settings.redis_url:
        from smsgate.limits.rate import RedisRate

        return RedisRate(settings.redis_url)
    return None


#: what ``/metrics`` is served with: uvicorn's configuration for this ASGI app (the composer's
#: own, ``api.server.uvicorn_config``, with its limits on request heads)
HttpConfig = Callable[[Any], "uvicorn.Config"]


async def run(settings: Settings, secrets: Secrets, listener: socket.socket | None = None,
              http_config: HttpConfig | None = None, store_metrics: bool = True) -> None:
    """``smsgate worker``: deliver until SIGTERM or SIGINT, then stop taking work, finish the
    batch in hand (bounded by the grace period), unbind, give the bind slots back, exit.
    With ``listener`` (and ``http_config``), ``/metrics`` (channels, callbacks, and with
    ``store_metrics`` the queue depth and outbox) is served on it."""
    gate = StoreGate(settings)
    metrics = Metrics(http=False)
    if store_metrics:
        metrics.watch(store_gauges(lambda: gate.reader.db))
    worker = Worker(gate, secrets, metrics)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    shutdown.arm_on_signals(settings.stop_timeout_s)  # the stop is bounded even when the store hangs
    await worker.start()
    tune_gc()
    checkpoints = asyncio.create_task(gate.checkpoint_forever())
    exporter = _serve_metrics(metrics, listener, http_config) if listener and http_config else None
    log.info("worker_started", extra={"owner": worker.owner, "binds": len(worker.channels)})
    try:
        await stop.wait()
    finally:
        log.info("worker_stopping", extra={"owner": worker.owner})
        if exporter is not None:
            exporter[0].should_exit = True
            await exporter[1]
        await worker.close()
        checkpoints.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await checkpoints
        gate.close()
    log.info("worker_stopped", extra={"owner": worker.owner})


def _serve_metrics(metrics: Metrics, listener: socket.socket,
                   http_config: HttpConfig) -> tuple[Any, asyncio.Task]:
    """``/metrics`` on this loop (the collectors read the store's connections, which belong
    to it), through the same uvicorn the API runs on."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def render(_request: object) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    server = uvicorn.Server(http_config(Starlette(routes=[Route("/metrics", render)])))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # ours stop it
    return server, asyncio.create_task(server.serve(sockets=[listener]), name="metrics")
