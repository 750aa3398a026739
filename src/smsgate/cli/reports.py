"""``smsgate status`` and ``smsgate report``: what happened to messages, for the operator, read
straight from the store (they work while the server runs)."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from smsgate.domain.states import MessageState
from smsgate.domain.records import now_ms
from smsgate.cli.options import DatabaseUrl, DataDir, Json
from smsgate.config import Settings
from smsgate.domain import errors
from smsgate.logs import mask_number
from smsgate.store import open_store
from smsgate.store.core import Store
from smsgate.store.history import message_parts
from smsgate.store.reports import REPORT_COLUMNS, recent

_SINCE = re.compile(r"([0-9]+)([smhd])")
_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}



def _store(data_dir: Path | None, database_url: str | None) -> Store:
    """The store to read; a SQLite file that is not there is an error (a mistyped --data-dir),
    not a new empty store."""
    settings = Settings.from_env(data_dir=data_dir, database_url=database_url)
    if not settings.is_postgres and not settings.sqlite_path.is_file():
        raise FileNotFoundError(f"no store at {settings.sqlite_path}: check --data-dir or --database-url")
    return open_store(settings)


def _time(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S") if ms else "-"


def status(
    message_id: str, data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: Json = False
) -> None:
    """One message: its state, times, and each part's carrier id and receipt."""
    store = _store(data_dir, database_url)
    message_id = message_id.strip().lower()  # ids are lower-case hex; a copy may not be
    message = store.message(message_id)
    if message is None:
        raise errors.MessageNotFound(f"No message {message_id}.")
    parts = message_parts(store.db, message_id)
    if as_json:
        typer.echo(json.dumps({**message, "parts": parts}, ensure_ascii=False))
        return
    table = Table(title=f"message {message_id}", show_header=False)
    shown = {**message, "e164": mask_number(message["e164"])}  # as report and the logs show it
    for key in ("project_id", "sign_id", "e164", "state", "status_desc", "fee_num", "attempts", "channel"):
        table.add_row(key, "-" if shown[key] is None else str(shown[key]))
    if message["state"] == MessageState.QUEUED:  # held for the window, or waiting to retry
        table.add_row("next attempt", _time(message["next_attempt_at"]))
    for key in ("accepted_at", "submitted_at", "done_at"):
        table.add_row(key, _time(message[key]))
    for part in parts:
        table.add_row(f"part {part['idx']}/{part['total']}",
                      f"{part['carrier_id'] or '-'} {part['stat'] or 'waiting'} {part['err'] or ''}"
                      f" {_time(part['done_at'])}".strip())
    _console().print(table)


def report(
    since: Annotated[str, typer.Option(help="How far back: 30m, 1h, 2d...")] = "1h",
    project: Annotated[Optional[str], typer.Option(help="Only this project.")] = None,
    limit: Annotated[int, typer.Option(min=0, max=1000, help="Latest messages listed.")] = 20,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Json = False,
) -> None:
    """Messages accepted in a recent period: counts by state, then the latest ones."""
    match = _SINCE.fullmatch(since.strip())
    if match is None:
        raise errors.BadRequest(f"--since {since!r} is invalid: use e.g. 30m, 1h or 2d")
    start = max(now_ms() - int(match.group(1)) * _UNIT_MS[match.group(2)], 0)
    counts, rows = recent(_store(data_dir, database_url).db, start, project, limit)
    if as_json:
        typer.echo(json.dumps({"since_ms": start, "counts": counts,
                               "messages": [dict(zip(REPORT_COLUMNS, r)) for r in rows]}))
        return
    console = _console()
    summary = Table(title=f"since {_time(start)} UTC")
    summary.add_column("state")
    summary.add_column("messages", justify="right")
    for state, n in counts.items():
        summary.add_row(state, f"{n:,}")
    summary.add_row("total", f"{sum(counts.values()):,}")
    console.print(summary)
    latest = Table(title=f"latest {len(rows)}")
    for column in ("message_id", "number", "state", "status", "parts", "accepted", "done"):
        latest.add_column(column)
    for r in rows:
        latest.add_row(r[0], mask_number(r[2]), r[3], r[4] or "", str(r[5]), _time(r[6]), _time(r[8]))
    console.print(latest)


def _console() -> Console:
    """Rich's console; wide when piped (rich would otherwise cut tables to 80 columns)."""
    return Console() if sys.stdout.isatty() else Console(width=160)
