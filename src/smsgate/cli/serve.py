"""``smsgate serve``, ``smsgate api`` and ``smsgate worker``: the service's processes."""

from __future__ import annotations

from types import FrameType
from typing import Annotated, Optional

import typer

from smsgate.auth.secrets import box_for_store
from smsgate.cli.options import (
    Channels,
    CliError,
    DatabaseUrl,
    DataDir,
    RedisUrl,
    load_settings,
)
from smsgate.config import Settings
from smsgate.smpp.config import ChannelConfigError, load_channels
from smsgate.domain.window import SendWindow
from smsgate.store import open_store


def _check_master_key(settings: Settings) -> None:
    """Refuse to start, in one line, with a master key that does not open the store's secrets
    (``secrets.MasterKeyError``); make one only for a store without secrets."""
    store = open_store(settings)
    try:
        box_for_store(settings, store.sealed_secrets())
    finally:
        store.close()



def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
    channels: Channels = None,
    sim_port: Annotated[
        Optional[int], typer.Option(help="SMPP port of the built-in simulator (no --channels).")
    ] = None,
    redis_url: RedisUrl = None,
) -> None:
    """Run the whole service in one process on the embedded default (SQLite): the API, the
    dispatcher, callbacks, and the built-in SMSC simulator when no channel is configured."""
    settings = load_settings(data_dir, database_url, host=host, port=port, channels_file=channels,
                         sim_port=sim_port, redis_url=redis_url)
    _check_delivery_settings(settings)
    _check_master_key(settings)
    _run_http(settings, access_log)


def worker(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    redis_url: RedisUrl = None,
    channels: Channels = None,
    sim_port: Annotated[
        Optional[int], typer.Option(help="SMPP port of the built-in simulator (no --channels).")
    ] = None,
    metrics_port: Annotated[
        Optional[int], typer.Option(help="Serve /metrics (Prometheus) on this port.")
    ] = None,
    host: Annotated[str, typer.Option(help="Address /metrics listens on.")] = "127.0.0.1",
) -> None:
    """Deliver only: claim queued messages, submit them over SMPP, apply receipts, post
    callbacks.  Run as many as wanted against one PostgreSQL; SIGTERM stops one cleanly."""
    import asyncio

    from smsgate import logs
    from smsgate import worker as worker_module

    settings = load_settings(data_dir, database_url, channels_file=channels, sim_port=sim_port,
                         redis_url=redis_url, host=host)
    _check_delivery_settings(settings)
    _check_master_key(settings)
    logs.setup(settings.log_level, settings.log_pii)
    typer.echo(f"smsgate: worker on {_store_name(settings)}")
    asyncio.run(worker_module.run(settings, metrics_port))


def _check_delivery_settings(settings: Settings) -> None:
    """Refuse a bad SMSGATE_SEND_WINDOW or channels file at start-up, not at the first send."""
    SendWindow.parse(settings.send_window)
    if settings.channels_file is not None:
        try:
            load_channels(settings.channels_file)
        except ChannelConfigError as exc:
            raise CliError(str(exc)) from exc


def _store_name(settings: Settings) -> str:
    return settings.store_name


def api(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
    redis_url: RedisUrl = None,
) -> None:
    """Run the HTTP API only: accept messages, answer reports; no delivery in this process.
    Run as many as wanted against one PostgreSQL (each on its own port)."""
    settings = load_settings(data_dir, database_url, host=host, port=port, deliver=False,
                         redis_url=redis_url)
    _check_master_key(settings)
    _run_http(settings, access_log)


def _run_http(settings: Settings, access_log: bool) -> None:
    import uvicorn

    from smsgate import logs, shutdown
    from smsgate.api.server import raise_open_files_limit, uvicorn_config
    from smsgate.app import create_app

    logs.setup(settings.log_level, settings.log_pii)
    raise_open_files_limit(settings)

    class Server(uvicorn.Server):
        """uvicorn's, with the stop bounded (``smsgate.shutdown``) and a clean stop exiting 0,
        as ``smsgate worker`` does, instead of uvicorn re-raising the signal at the end."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            shutdown.arm(settings.stop_timeout_s)
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    role = "serving" if settings.deliver else "serving the API only"
    typer.echo(f"smsgate: {role} on http://{settings.host}:{settings.port} ({_store_name(settings)})")
    Server(uvicorn_config(
        create_app(settings),
        settings,
        loop="uvloop",
        access_log=access_log,
        log_config=None,  # keep our JSON handler
        timeout_graceful_shutdown=10,
    )).run()

