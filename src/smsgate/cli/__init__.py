"""The command line: ``smsgate serve`` and the operator's ``smsgate admin …`` commands.

``serve`` (serve, api, worker), ``admin`` (and ``operators``), ``reports`` (status, report),
``send`` and ``check`` (over ``bulk``) hold the commands; ``options`` what they share.
"""

from __future__ import annotations

import sys

import typer

from smsgate.cli import check, reports, send, serve
from smsgate.cli.admin import admin
from smsgate.cli.options import CliError
from smsgate.domain import errors
from smsgate.smsc import cli as smsc_cli
from smsgate.store.db import driver_errors

app = typer.Typer(
    help="smsgate: promotional SMS over Huawei SMN's v2 API, delivered by SMPP.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)
app.add_typer(admin, name="admin")
app.add_typer(smsc_cli.app, name="smsc-sim", help="The built-in SMSC simulator (an SMPP server).")
app.command("status")(reports.status)
app.command("report")(reports.report)
app.command("send")(send.send)
app.command("check")(check.check)
app.command()(serve.serve)
app.command()(serve.worker)
app.command()(serve.api)


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
