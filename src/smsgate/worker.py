"""The delivery side of the service: channels, the dispatcher and the callback poster.

``smsgate serve`` runs it beside the API in one process, on the API's store gate; with no
channel configured it starts the built-in SMSC simulator and delivers to it, so a fresh
install delivers end to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

from smsgate.api.state import AppState
from smsgate.callbacks.poster import Poster
from smsgate.dispatch.config import load_channels
from smsgate.dispatch.dispatcher import Dispatcher
from smsgate.dispatch.router import Router
from smsgate.domain.window import SendWindow
from smsgate.metrics import channel_gauges
from smsgate.smpp.session import SmppChannel, SmppConfig
from smsgate.smsc.control import start_control
from smsgate.smsc.simulator import SimConfig, Simulator
from smsgate.store.delivery import DeliveryStore
from smsgate.store.outbox import OutboxStore

log = logging.getLogger("smsgate.worker")

SHUTDOWN_GRACE_S = 10.0


class Worker:
    def __init__(self, state: AppState) -> None:
        self.state = state
        self.simulator: Simulator | None = None
        self.channels: list[SmppChannel] = []
        self.dispatcher: Dispatcher | None = None
        self._poster: Poster | None = None
        self._tasks: list[asyncio.Task] = []
        self._windows: dict[str | None, SendWindow] = {}
        self._secrets: dict[str, str] = {}
        self._control: asyncio.Server | None = None

    async def start(self) -> None:
        routes = await self._routes()
        router = Router(routes)
        writer_db = self.state.writer.db
        outbox = OutboxStore(writer_db)
        self.dispatcher = Dispatcher(self.state.write, DeliveryStore(writer_db), outbox, router,
                                     self._window_for, self.state.settings.zone)
        self._poster = Poster(self.state.write, outbox, self._secret_for)
        self.state.metrics.watch(channel_gauges(lambda: self.channels))
        for channel in self.channels:
            await channel.start()
        self._tasks = [asyncio.create_task(self.dispatcher.run(), name="dispatcher"),
                       asyncio.create_task(self._poster.run(), name="callbacks")]

    async def _routes(self) -> list[tuple[SmppChannel, list[str]]]:
        settings = self.state.settings
        if settings.channels_file is not None:
            configured = load_channels(settings.channels_file)
        else:
            self.simulator = Simulator(SimConfig(port=_free_or(settings.sim_port)))
            await self.simulator.start()
            # the control port (for `smsgate smsc-sim mo`) is the SMPP port + 1 when free
            self._control = await start_control(self.simulator, _free_or(self.simulator.port + 1))
            log.info("no channel configured: delivering to the built-in SMSC simulator on port %d",
                     self.simulator.port)
            sim = SmppConfig(name="simulator", host="127.0.0.1", port=self.simulator.port,
                             system_id="smsgate", password="", source_addr="10690000")
            configured = [(sim, ["*"])]
        self.channels = [SmppChannel(config) for config, _ in configured]
        return [(channel, prefixes) for channel, (_, prefixes) in zip(self.channels, configured)]

    def _window_for(self, project_id: str) -> SendWindow:
        context = self.state.project(project_id)
        text = (context.project.send_window if context else None) or self.state.settings.send_window
        if text not in self._windows:
            self._windows[text] = SendWindow.parse(text)
        return self._windows[text]

    def _secret_for(self, project_id: str) -> str:
        """The project's callback signing key (set once, at its first subscription)."""
        if project_id not in self._secrets:
            sealed = OutboxStore(self.state.reader.db).sealed_secret(project_id)
            if sealed is None:
                return ""  # not cached: the key may be created a moment later
            self._secrets[project_id] = self.state.secrets.open(sealed)
        return self._secrets[project_id]

    async def close(self) -> None:
        """Stop taking work, finish and write what is in hand (bounded), unbind, stop the
        simulator.  A message still in hand after the grace period keeps its lease and is
        taken over when the lease ends."""
        if self.dispatcher is not None:
            self.dispatcher.stop()
        pending: set[asyncio.Task] = set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks[:1], timeout=SHUTDOWN_GRACE_S)
        for task in [*pending, *self._tasks[1:]]:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for channel in self.channels:
            await channel.close()
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
            log.warning("port %d is taken: the simulator takes a free port instead", port)
            return 0
    return port
