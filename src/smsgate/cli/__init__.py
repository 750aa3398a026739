"""The command line: ``smsgate serve`` and the operator's ``smsgate admin …`` commands.

Admin commands open the same store as the server (``--data-dir`` or ``--database-url``) and work
while it runs: every change bumps the project's version, which the server's caches key on.
"""

from __future__ import annotations

import json
import os
import sys
import time
from enum import Enum
from pathlib import Path
from types import FrameType
from typing import Annotated, Optional

import typer

from smsgate.cli import check as cli_check
from smsgate.cli import reports as cli_reports
from smsgate.cli import send as cli_send
from smsgate.auth.secrets import (
    SecretBox,
    box_for_store,
    new_access_key,
    new_secret_key,
    new_token,
    token_hash,
)
from smsgate.config import Settings
from smsgate.cli.operators import operator_app
from smsgate.dispatch.config import ChannelConfigError, load_channels
from smsgate.domain import errors, phone, signatures
from smsgate.domain.records import SignStatus, SignType
from smsgate.domain.window import SendWindow
from smsgate.smsc import cli as smsc_cli
from smsgate.store.outbox import OutboxStore
from smsgate.store import open_store
from smsgate.store.core import Store
from smsgate.store.db import driver_errors

app = typer.Typer(
    help="smsgate: promotional SMS over Huawei SMN's v2 API, delivered by SMPP.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)
admin = typer.Typer(help="Operator commands: projects, keys, signatures, lexicon, opt-outs.")
project_app = typer.Typer(help="Projects and their grants.")
key_app = typer.Typer(help="AK/SK access keys.")
sign_app = typer.Typer(help="SMS signatures (the provider reviews them).")
words_app = typer.Typer(help="A project's own sensitive words.")
optout_app = typer.Typer(help="Numbers that unsubscribed from a signature.")
token_app = typer.Typer(help="X-Auth-Token tokens.")
app.add_typer(admin, name="admin")
app.add_typer(smsc_cli.app, name="smsc-sim", help="The built-in SMSC simulator (an SMPP server).")
app.command("status")(cli_reports.status)
app.command("report")(cli_reports.report)
app.command("send")(cli_send.send)
app.command("check")(cli_check.check)
for sub, name in [
    (project_app, "project"),
    (key_app, "key"),
    (sign_app, "sign"),
    (words_app, "words"),
    (optout_app, "optout"),
    (token_app, "token"),
    (operator_app, "operator"),
]:
    admin.add_typer(sub, name=name)

DataDir = Annotated[
    Optional[Path],
    typer.Option("--data-dir", envvar="SMSGATE_DATA_DIR", help="Where the embedded store lives."),
]
DatabaseUrl = Annotated[
    Optional[str],
    typer.Option("--database-url", envvar="SMSGATE_DATABASE_URL",
                 help="sqlite:///PATH or postgresql://USER@HOST:PORT/DB"),
]
RedisUrl = Annotated[
    Optional[str],
    typer.Option("--redis-url", envvar="SMSGATE_REDIS_URL",
                 help="redis://HOST:PORT/DB: cluster-wide caps and rate limits"),
]
Channels = Annotated[
    Optional[Path], typer.Option("--channels", envvar="SMSGATE_CHANNELS", help="Carrier links (TOML/JSON).")
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


class CliError(Exception):
    """A refusal of the command line itself: one line on stderr, exit 1."""


def _settings(data_dir: Path | None, database_url: str | None, **more: object) -> Settings:
    return Settings.from_env(data_dir=data_dir, database_url=database_url, **more)


def _store(data_dir: Path | None, database_url: str | None) -> Store:
    settings = _settings(data_dir, database_url)
    return open_store(settings)


def _store_and_box(data_dir: Path | None, database_url: str | None) -> tuple[Store, SecretBox]:
    """The store and the box its secrets are sealed in (refused when the master key found does
    not open the store's secrets: nothing is sealed with a stray key)."""
    settings = _settings(data_dir, database_url)
    store = open_store(settings)
    return store, box_for_store(settings, store.sealed_secrets())


def _check_master_key(settings: Settings) -> None:
    """Refuse to start, in one line, with a master key that does not open the store's secrets
    (``secrets.MasterKeyError``); make one only for a store without secrets."""
    store = open_store(settings)
    try:
        box_for_store(settings, store.sealed_secrets())
    finally:
        store.close()


def _print(as_json: bool, payload: dict, human: str) -> None:
    typer.echo(json.dumps(payload, ensure_ascii=False) if as_json else human)


@app.command()
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
    settings = _settings(data_dir, database_url, host=host, port=port, channels_file=channels,
                         sim_port=sim_port, redis_url=redis_url)
    _check_delivery_settings(settings)
    _check_master_key(settings)
    _run_http(settings, access_log)


@app.command()
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

    settings = _settings(data_dir, database_url, channels_file=channels, sim_port=sim_port,
                         redis_url=redis_url, host=host)
    _check_delivery_settings(settings)
    _check_master_key(settings)
    logs.setup(os.environ.get("SMSGATE_LOG_LEVEL", "info"))
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


@app.command()
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
    settings = _settings(data_dir, database_url, host=host, port=port, deliver=False,
                         redis_url=redis_url)
    _check_master_key(settings)
    _run_http(settings, access_log)


def _run_http(settings: Settings, access_log: bool) -> None:
    import uvicorn

    from smsgate import logs, shutdown
    from smsgate.api.app import create_app
    from smsgate.api.server import raise_open_files_limit, uvicorn_config

    logs.setup(os.environ.get("SMSGATE_LOG_LEVEL", "info"))
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


# --- projects --------------------------------------------------------------------------------


@project_app.command("create")
def project_create(
    name: str,
    enterprise: Annotated[bool, typer.Option("--enterprise", help="An enterprise account.")] = False,
    grant: Annotated[list[str], typer.Option("--grant", help="A permission, e.g. promotion.")] = [],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Json = False,
) -> None:
    """Create a project; prints its id."""
    project = _store(data_dir, database_url).create_project(name, enterprise, grant)
    _print(as_json, {"project_id": project.id, "name": project.name}, project.id)


@project_app.command("set")
def project_set(
    project_id: str,
    daily_cap: Annotated[Optional[int], typer.Option(min=1, help="Promotional SMS per number per day.")] = None,
    send_window: Annotated[Optional[str], typer.Option(help="HH:MM-HH:MM local time.")] = None,
    enterprise: Annotated[Optional[bool], typer.Option("--enterprise/--no-enterprise")] = None,
    grant: Annotated[Optional[list[str]], typer.Option("--grant", help="Replace the grants.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Json = False,
) -> None:
    """Change a project's cap, sending window, account type or grants."""
    window = str(SendWindow.parse(send_window)) if send_window is not None else None
    project = _store(data_dir, database_url).update_project(
        project_id,
        daily_cap=daily_cap,
        send_window=window,
        enterprise=None if enterprise is None else int(enterprise),
        grants=grant,
    )
    _print(as_json, _project_json(project), f"project {project.id} updated")


@project_app.command("show")
def project_show(
    project_id: str, data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: Json = False
) -> None:
    """Show a project's settings."""
    project = _store(data_dir, database_url).require_project(project_id)
    payload = _project_json(project)
    _print(as_json, payload, "\n".join(f"{k}: {v}" for k, v in payload.items()))


@project_app.command("callback-secret")
def project_callback_secret(
    project_id: str, data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: Json = False
) -> None:
    """The key this project's callbacks are signed with (HMAC-SHA256); created on first use."""
    store, box = _store_and_box(data_dir, database_url)
    store.require_project(project_id)
    outbox = OutboxStore(store.db)
    if outbox.sealed_secret(project_id) is None:
        outbox.subscribe(project_id, [], box.seal(new_secret_key()))
    secret = box.open(outbox.sealed_secret(project_id) or b"")
    _print(as_json, {"callback_secret": secret}, secret)


def _project_json(project) -> dict:
    return {
        "project_id": project.id,
        "name": project.name,
        "enterprise": project.enterprise,
        "grants": sorted(project.grants),
        "daily_cap": project.daily_cap,
        "send_window": project.send_window,
    }


# --- keys and tokens -------------------------------------------------------------------------


@key_app.command("create")
def key_create(
    project_id: str, data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: Json = False
) -> None:
    """Create an AK/SK pair; the secret key is shown once, and stored encrypted."""
    store, box = _store_and_box(data_dir, database_url)
    access_key, secret_key = new_access_key(), new_secret_key()
    store.add_access_key(project_id, access_key, box.seal(secret_key))
    _print(
        as_json,
        {"access_key": access_key, "secret_key": secret_key},
        f"access key: {access_key}\nsecret key: {secret_key}  (shown once)",
    )


@key_app.command("revoke")
def key_revoke(access_key: str, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Revoke an access key at once, and the tokens minted with it."""
    if not _store(data_dir, database_url).revoke_access_key(access_key):
        raise CliError(f"no live access key {access_key}")
    typer.echo(f"access key {access_key} revoked, with the tokens minted with it")


@token_app.command("create")
def token_create(
    project_id: str,
    hours: Annotated[int, typer.Option(min=1, max=24, help="Lifetime.")] = 24,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Json = False,
) -> None:
    """Issue an X-Auth-Token for a project."""
    store = _store(data_dir, database_url)
    store.require_project(project_id)
    token = new_token()
    expires = int(time.time() * 1000) + hours * 3_600_000
    token_id = store.add_token(token_hash(token), project_id, expires)
    _print(as_json, {"token": token, "token_id": token_id, "expires_at_ms": expires}, token)


@token_app.command("list")
def token_list(
    project_id: str, data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: Json = False
) -> None:
    """List a project's tokens that have not expired (never the tokens themselves): id, the
    access key each was minted with, when issued, when it expires, whether revoked."""
    store = _store(data_dir, database_url)
    store.require_project(project_id)
    now = int(time.time() * 1000)
    rows = [
        {"token_id": t.id,
         "minted_with": t.access_key or ("admin" if t.issued_at is not None else None),
         "issued_at": _iso(t.issued_at), "expires_at": _iso(t.expires_at),
         "revoked_at": _iso(t.revoked_at), "state": "revoked" if t.revoked_at else "live"}
        for t in store.tokens(project_id, now)
    ]
    human = "\n".join(
        f"{r['token_id']}  {r['state']:<7}  minted with {r['minted_with'] or '(unknown)'}"
        f"  issued {r['issued_at'] or '(unknown)'}  expires {r['expires_at']}"
        for r in rows
    )
    _print(as_json, {"tokens": rows}, human or "(no tokens)")


@token_app.command("revoke")
def token_revoke(
    project_id: str,
    token_id: Annotated[Optional[str], typer.Argument(help="The token's id (see `token list`).")] = None,
    all_tokens: Annotated[bool, typer.Option("--all", help="Every live token of the project.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Json = False,
) -> None:
    """Revoke a token (or --all of the project's) at once: every API process refuses it from
    its next request."""
    if (token_id is None) == (not all_tokens):
        raise CliError("give either a TOKEN_ID or --all")
    revoked = _store(data_dir, database_url).revoke_tokens(project_id, token_id)
    if token_id is not None and not revoked:
        raise CliError(f"project {project_id} has no live token {token_id}")
    _print(as_json, {"revoked": revoked}, f"{revoked} token(s) revoked")


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


# --- signatures ------------------------------------------------------------------------------


class SignKind(str, Enum):
    promotional = "promotional"
    notification = "notification"


@sign_app.command("create")
def sign_create(
    project_id: str,
    sign_name: str,
    type: Annotated[SignKind, typer.Option("--type")] = SignKind.promotional,
    approve: Annotated[bool, typer.Option("--approve", help="Approve it at once.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Json = False,
) -> None:
    """Create a signature (pending review unless --approve)."""
    store = _store(data_dir, database_url)
    kind = SignType.PROMOTIONAL if type is SignKind.promotional else SignType.NOTIFICATION
    sign = store.create_sign(project_id, signatures.validate_name(sign_name), kind)
    if approve:
        sign = store.set_sign_status(project_id, sign.id, SignStatus.APPROVED)
    _print(as_json, {"sign_id": sign.id, "status": int(sign.status)}, sign.id)


@sign_app.command("approve")
def sign_approve(
    project_id: str, sign_id: str, data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """Approve a signature."""
    _store(data_dir, database_url).set_sign_status(project_id, sign_id, SignStatus.APPROVED)
    typer.echo(f"signature {sign_id} approved")


@sign_app.command("reject")
def sign_reject(
    project_id: str,
    sign_id: str,
    reason: Annotated[str, typer.Option(help="Told to the customer in `reply`.")] = "",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Reject a signature, with a reason."""
    _store(data_dir, database_url).set_sign_status(project_id, sign_id, SignStatus.REJECTED, reason)
    typer.echo(f"signature {sign_id} rejected")


@sign_app.command("list")
def sign_list(
    project_id: str, data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: Json = False
) -> None:
    """List a project's signatures."""
    store = _store(data_dir, database_url)
    store.require_project(project_id)
    signs = store.list_signs(project_id)
    rows = [
        {"sign_id": s.id, "sign_name": s.name, "type": s.type.name.lower(), "status": s.status.name.lower()}
        for s in signs
    ]
    human = "\n".join(f"{r['sign_id']}  {r['sign_name']}  {r['type']}  {r['status']}" for r in rows)
    _print(as_json, {"signs": rows}, human or "(no signatures)")


# --- lexicon and opt-outs --------------------------------------------------------------------


@words_app.command("add")
def words_add(
    project_id: str, words: list[str], data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """Add words to the project's own lexicon (on top of the built-in one)."""
    added = _store(data_dir, database_url).add_words(project_id, [w.strip() for w in words if w.strip()])
    typer.echo(f"{added} word(s) added")


@words_app.command("remove")
def words_remove(
    project_id: str, words: list[str], data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """Remove words from the project's own lexicon."""
    removed = _store(data_dir, database_url).remove_words(project_id, words)
    typer.echo(f"{removed} word(s) removed")


@words_app.command("list")
def words_list(
    project_id: str, data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: Json = False
) -> None:
    """List the project's own words."""
    words = _store(data_dir, database_url).words(project_id)
    _print(as_json, {"words": words}, "\n".join(words) or "(no words)")


@optout_app.command("add")
def optout_add(
    project_id: str,
    sign_id: str,
    numbers: list[str],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Opt numbers out of a signature's promotional SMS."""
    normalized = []
    for number in numbers:
        try:
            normalized.append(phone.normalize(number).e164)
        except errors.EndpointInvalid:
            raise CliError(f"{number!r} is not a valid phone number; nothing added") from None
    added = _store(data_dir, database_url).add_optouts(project_id, sign_id, normalized)
    typer.echo(f"{added} number(s) opted out")


def main() -> None:
    """Entry point: any error is one line on stderr and a non-zero exit."""
    try:
        code = app(standalone_mode=False)  # a command's typer.Exit(n) comes back as n here
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: bad option, missing argument...
        typer.echo(f"smsgate: error: {exc.format_message()}", err=True)  # type: ignore[attr-defined]
        sys.exit(getattr(exc, "exit_code", 2))
    except errors.SmsgateError as exc:
        typer.echo(f"smsgate: error: {exc.code} {exc.message}", err=True)
        sys.exit(1)
    except CliError as exc:
        typer.echo(f"smsgate: error: {exc}", err=True)
        sys.exit(1)
    except driver_errors() as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        typer.echo(f"smsgate: error: the store is unavailable: {first_line}", err=True)
        sys.exit(1)
    except (ValueError, OSError) as exc:  # a bad setting or path: say which, no traceback
        typer.echo(f"smsgate: error: {exc}", err=True)
        sys.exit(1)
