"""``smsgate admin operator …``: who may log in to the web console.

The password is prompted for (twice, hidden) unless ``--password`` or
``SMSGATE_OPERATOR_PASSWORD`` gives it, for scripts; the environment variable keeps it out of
the process list.
"""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from smsgate.cli.options import DatabaseUrl, DataDir, Json, admin_store
from smsgate.config import FlagEnv
from smsgate.console import auth
from smsgate.domain import admin as rules
from smsgate.store.operators import (
    add_operator,
    delete_operator,
    list_operators,
    operator_hash,
    set_operator_password,
)

operator_app = typer.Typer(help="Web console operators (logins for /console).")

Password = Annotated[Optional[str], typer.Option(
    "--password", envvar=FlagEnv.OPERATOR_PASSWORD,
    help="For scripts (prefer the environment variable); prompted for when absent.")]


def _fail(message: str) -> None:
    typer.echo(f"smsgate: error: {message}", err=True)
    raise typer.Exit(1)


def _password(given: str | None) -> str:
    password = given if given is not None else typer.prompt(
        "Password", hide_input=True, confirmation_prompt=True)
    return rules.operator_password(password)


@operator_app.command("create")
def create(name: str, password: Password = None, data_dir: DataDir = None,
           database_url: DatabaseUrl = None) -> None:
    """Create an operator who can log in to the console."""
    rules.operator_name(name)
    store = admin_store(data_dir, database_url)
    if operator_hash(store.db, name) is not None:
        _fail(f"operator {name} exists already (change the password with `operator password`)")
    if not add_operator(store.db, name, auth.hash_password(_password(password))):
        _fail(f"operator {name} exists already")
    typer.echo(f"operator {name} created")


@operator_app.command("password")
def change_password(name: str, password: Password = None, data_dir: DataDir = None,
                    database_url: DatabaseUrl = None) -> None:
    """Set an operator's password; their open sessions end."""
    store = admin_store(data_dir, database_url)
    if operator_hash(store.db, name) is None:
        _fail(f"no operator {name}")
    set_operator_password(store.db, name, auth.hash_password(_password(password)))
    typer.echo(f"password of {name} changed")


@operator_app.command("delete")
def delete(name: str, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Remove an operator; their open sessions end."""
    if not delete_operator(admin_store(data_dir, database_url).db, name):
        _fail(f"no operator {name}")
    typer.echo(f"operator {name} deleted")


@operator_app.command("list")
def list_(data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: Json = False) -> None:
    """List the operators."""
    rows = list_operators(admin_store(data_dir, database_url).db)
    if as_json:
        typer.echo(json.dumps({"operators": [{"name": n, "created_at": at} for n, at in rows]}))
    else:
        typer.echo("\n".join(n for n, _ in rows) or "(no operators)")
