"""``smsgate serve``, ``smsgate api`` and ``smsgate worker``: the service's processes."""

from __future__ import annotations

import socket
from types import FrameType
from typing import Annotated, Optional

import typer

from smsgate.auth.secrets import SecretBox, box_for_store
from smsgate.cli.options import (
    Channels,
    CliError,
    DatabaseUrl,
    DataDir,
    RedisUrl,
    load_settings,
)
from smsgate.cli.supervise import listen
from smsgate.config import Settings
from smsgate.smpp.config import ChannelConfigError, load_channels
from smsgate.domain.window import SendWindow
from smsgate.store import open_store

Workers = Annotated[int, typer.Option(min=1, help="API processes serving the port (one store).")]


def _check_master_key(settings: Settings) -> SecretBox:
    """Refuse to start, in one line, with a master key that does not open the store's secrets
    (``secrets.MasterKeyError``); make one only for a store without secrets."""
    store = open_store(settings)
    try:
        return box_for_store(settings, store.sealed_secrets())
    finally:
        store.close()


def _listen(host: str, port: int, flag: str = "--port") -> socket.socket:
    """A listening socket, or one line on stderr (a port in use) before anything started."""
    try:
        return listen(host, port)
    except OSError as exc:
        raise CliError(f"{flag} {port}: {exc.strerror or exc} ({host})") from None


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
    workers: Workers = 1,
) -> None:
    """Run the whole service on the embedded default (SQLite) as one command: the API (and
    console) in one process (``--workers`` N: N processes on one port), delivery (dispatcher,
    SMPP, receipts, callbacks, and the built-in SMSC simulator when no channel is configured)
    in another, over the same store; Ctrl-C or SIGTERM stops them all."""
    from smsgate import logs
    from smsgate.cli.supervise import Child, Supervisor, listen, smsgate
    from smsgate.config import environment_for

    settings = load_settings(data_dir, database_url, host=host, port=port, channels_file=channels,
                         sim_port=sim_port, redis_url=redis_url)
    _check_delivery_settings(settings)
    _check_master_key(settings)
    logs.setup(settings.log_level, settings.log_pii)
    http, exporter = _listen(host, port), listen("127.0.0.1", 0)
    env = environment_for(settings)
    metrics_url = "http://127.0.0.1:%d/metrics" % exporter.getsockname()[1]
    api_args = ["--fd", str(http.fileno()), "--host", host, "--port", str(port),
                "--deliver-metrics-url", metrics_url, *(["--access-log"] if access_log else [])]
    children = [Child(f"api-{n}" if workers > 1 else "api", smsgate("api", *api_args),
                      (http.fileno(),), env) for n in range(1, workers + 1)]
    children.append(Child("deliver", smsgate("worker", "--metrics-fd", str(exporter.fileno())),
                          (exporter.fileno(),), env))
    typer.echo(f"smsgate: serving on http://{host}:{port} ({_store_name(settings)}):"
               f" {workers} API process{'es' if workers > 1 else ''} and one delivering")
    code = Supervisor(children, settings.restart_limit, settings.stop_timeout_s).run()
    raise typer.Exit(code)


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
    metrics_fd: Annotated[Optional[int], typer.Option(hidden=True)] = None,  # serve's delivery
) -> None:
    """Deliver only: claim queued messages, submit them over SMPP, apply receipts, post
    callbacks.  Run as many as wanted against one PostgreSQL; SIGTERM stops one cleanly."""
    import asyncio
    import functools

    from smsgate import logs
    from smsgate import worker as worker_module
    from smsgate.api.server import uvicorn_config

    settings = load_settings(data_dir, database_url, channels_file=channels, sim_port=sim_port,
                         redis_url=redis_url, host=host)
    _check_delivery_settings(settings)
    secrets = _check_master_key(settings)
    logs.setup(settings.log_level, settings.log_pii)
    # the metrics port is taken first: a port in use is one line on stderr, before any bind
    listener = (socket.socket(fileno=metrics_fd) if metrics_fd is not None
                else _listen(host, metrics_port, "--metrics-port") if metrics_port else None)
    # with the API's limits on slow and oversized request heads
    http_config = functools.partial(uvicorn_config, settings=settings, log_config=None,
                                    access_log=False, lifespan="off")
    if metrics_fd is None:  # under serve, its supervisor has said what runs
        typer.echo(f"smsgate: worker on {_store_name(settings)}")
    # serve's delivery process: the API's /metrics has the store's gauges, and appends these
    asyncio.run(worker_module.run(settings, secrets, listener, http_config,
                                  store_metrics=metrics_fd is None))


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
    workers: Workers = 1,
    fd: Annotated[Optional[int], typer.Option(hidden=True)] = None,  # a socket serve listens on
    deliver_metrics_url: Annotated[Optional[str], typer.Option(hidden=True)] = None,
) -> None:
    """Run the HTTP API only: accept messages, answer reports; no delivery in this process.
    ``--workers`` N runs N processes on the port; run as many as wanted against one
    PostgreSQL (each on its own port)."""
    settings = load_settings(data_dir, database_url, host=host, port=port, deliver=False,
                         redis_url=redis_url, deliver_metrics_url=deliver_metrics_url)
    _check_master_key(settings)
    if workers == 1:
        _run_http(settings, access_log, socket.socket(fileno=fd) if fd is not None else None)
        return
    from smsgate import logs
    from smsgate.cli.supervise import Child, Supervisor, smsgate
    from smsgate.config import environment_for

    logs.setup(settings.log_level, settings.log_pii)
    http = _listen(host, port)
    args = ["--fd", str(http.fileno()), "--host", host, "--port", str(port),
            *(["--access-log"] if access_log else [])]
    env = environment_for(settings)
    typer.echo(f"smsgate: {workers} API processes on http://{host}:{port} ({_store_name(settings)})")
    children = [Child(f"api-{n}", smsgate("api", *args), (http.fileno(),), env) for n in range(1, workers + 1)]
    raise typer.Exit(Supervisor(children, settings.restart_limit, settings.stop_timeout_s).run())


def _run_http(settings: Settings, access_log: bool, sock: socket.socket | None = None) -> None:
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

    if sock is None:  # else a supervisor (serve, api --workers) started it and has said so
        role = "serving" if settings.deliver else "serving the API only"
        typer.echo(f"smsgate: {role} on http://{settings.host}:{settings.port} ({_store_name(settings)})")
    Server(uvicorn_config(
        create_app(settings),
        settings,
        loop="uvloop",
        access_log=access_log,
        log_config=None,  # keep our JSON handler
        timeout_graceful_shutdown=10,
    )).run(sockets=[sock] if sock is not None else None)

