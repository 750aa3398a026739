"""What the commands share: the options that name the store, the store and secret box they
open, and the one way a command refuses (:class:`CliError`) or prints (``--json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from smsgate.auth.secrets import SecretBox, box_for_store
from smsgate.config import FlagEnv, Settings
from smsgate.store import open_store
from smsgate.store.core import Store

DataDir = Annotated[
    Optional[Path],
    typer.Option("--data-dir", envvar=FlagEnv.DATA_DIR, help="Where the embedded store lives."),
]
DatabaseUrl = Annotated[
    Optional[str],
    typer.Option("--database-url", envvar=FlagEnv.DATABASE_URL,
                 help="sqlite:///PATH or postgresql://USER@HOST:PORT/DB"),
]
RedisUrl = Annotated[
    Optional[str],
    typer.Option("--redis-url", envvar=FlagEnv.REDIS_URL,
                 help="redis://HOST:PORT/DB: cluster-wide caps and rate limits"),
]
Channels = Annotated[
    Optional[Path], typer.Option("--channels", envvar=FlagEnv.CHANNELS, help="Carrier links (TOML/JSON).")
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


class CliError(Exception):
    """A refusal of the command line itself: one line on stderr, exit 1."""


def load_settings(data_dir: Path | None, database_url: str | None, **more: object) -> Settings:
    return Settings.from_env(data_dir=data_dir, database_url=database_url, **more)


def admin_store(data_dir: Path | None, database_url: str | None) -> Store:
    settings = load_settings(data_dir, database_url)
    return open_store(settings)


def admin_store_and_box(data_dir: Path | None, database_url: str | None) -> tuple[Store, SecretBox]:
    """The store and the box its secrets are sealed in (refused when the master key found does
    not open the store's secrets: nothing is sealed with a stray key)."""
    settings = load_settings(data_dir, database_url)
    store = open_store(settings)
    return store, box_for_store(settings, store.sealed_secrets())


def print_result(as_json: bool, payload: dict, human: str) -> None:
    typer.echo(json.dumps(payload, ensure_ascii=False) if as_json else human)

