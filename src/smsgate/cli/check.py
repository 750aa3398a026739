"""``smsgate check FILE``: the dry run of a whole recipients file (``?dry_run=true``, 999 rows a
request): what would be refused and why, and when the rest would go out.  Nothing is sent.

Each request is judged on its own, as the real one would be at that moment: a number that
appears in several batches of the file is held to its daily cap per batch here, while
``smsgate send`` would count the earlier batches' messages too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from smsgate.cli.bulk import (
    DEFAULT_SERVER,
    MALFORMED,
    AkOpt,
    Api,
    BulkError,
    File,
    ProjectOpt,
    RetriesOpt,
    Row,
    ServerOpt,
    SignOpt,
    SkOpt,
    Tally,
    TokenOpt,
    batches,
    credentials,
    fail,
    progress,
    read_source,
    stdout_console,
)
from smsgate.logs import mask_number

JsonOpt = Annotated[bool, typer.Option(
    "--json", help="JSON lines for scripts: each refused row, then a summary.")]


@dataclass
class Verdict:
    """What the dry run says of one row."""

    row: int
    endpoint: str  # masked
    code: str | None = None
    message: str | None = None
    sensitive_word: str | None = None
    sensitive_word_position: int | None = None
    fee_num: int = 0
    held_until: str | None = None

    def json(self) -> dict:
        keys = ("row", "endpoint", "code", "message", "sensitive_word", "sensitive_word_position")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


@dataclass
class Findings:
    tally: Tally = field(default_factory=Tally)
    refused: list[Verdict] = field(default_factory=list)
    fee_num: int = 0  # SMS parts of the accepted rows
    held: int = 0  # accepted rows the sending window would hold
    held_until: str | None = None  # when the last held row may go (the window opens per recipient zone)

    def add(self, verdict: Verdict) -> None:
        self.tally.add(verdict.code)
        if verdict.code:
            self.refused.append(verdict)
            return
        self.fee_num += verdict.fee_num
        if verdict.held_until:
            self.held += 1
            self.held_until = max(self.held_until or "", verdict.held_until)  # ISO UTC: sorts as time

    def summary(self, rows: int) -> dict:
        return {"rows": rows, "accepted": self.tally.accepted,
                "refused": dict(sorted(self.tally.refused.items())),
                "fee_num": self.fee_num, "held": self.held, "held_until": self.held_until}


def check(
    file: File,
    project: ProjectOpt,
    sign: SignOpt,
    server: ServerOpt = DEFAULT_SERVER,
    ak: AkOpt = None,
    sk: SkOpt = None,
    token: TokenOpt = None,
    retries: RetriesOpt = 4,
    as_json: JsonOpt = False,
) -> None:
    """Dry-run a CSV or JSON Lines file: which rows would be refused and why; sends nothing."""
    try:
        source = read_source(file)
        findings = Findings()
        with Api(server, project, credentials(ak, sk, token), retries) as api, progress() as bar:
            task = bar.add_task("checking", total=len(source.rows), tally="")
            for verdicts in _judge(api, source.rows, sign):
                for verdict in verdicts:
                    findings.add(verdict)
                bar.update(task, advance=len(verdicts), tally=findings.tally.describe())
    except BulkError as exc:
        fail(str(exc))
    summary = findings.summary(len(source.rows))
    if as_json:
        for verdict in findings.refused:
            typer.echo(json.dumps(verdict.json(), ensure_ascii=False))
        typer.echo(json.dumps({"summary": summary}, ensure_ascii=False))
        return
    _print(file, findings, summary)


def _judge(api: Api, rows: list[Row], sign: str) -> Iterator[list[Verdict]]:
    for chunk in batches(rows):
        sendable = [r for r in chunk if r.problem is None]
        answers = iter(api.promotion([r.item(sign) for r in sendable], chunk[0].number,
                                     dry_run=True) if sendable else [])
        yield [_verdict(r, None if r.problem else next(answers)) for r in chunk]


def _verdict(row: Row, answer: dict | None) -> Verdict:
    endpoint = mask_number(row.endpoint)
    if answer is None:
        return Verdict(row.number, endpoint, MALFORMED, row.problem)
    return Verdict(row.number, endpoint, answer.get("code"), answer.get("message"),
                   answer.get("sensitive_word"), answer.get("sensitive_word_position"),
                   answer.get("fee_num") or 0, answer.get("held_until"))


def _print(file: Path, findings: Findings, summary: dict) -> None:
    console = stdout_console()
    if findings.refused:
        table = Table(title=f"{file}: {len(findings.refused):,} rows would be refused")
        for column in ("row", "endpoint", "code", "message", "sensitive word", "at"):
            table.add_column(column, justify="right" if column in ("row", "at") else "left")
        for v in findings.refused:
            at = "" if v.sensitive_word_position is None else str(v.sensitive_word_position)
            table.add_row(str(v.row), v.endpoint, v.code, v.message or "", v.sensitive_word or "",
                          at)
        console.print(table)
    console.print(f"{file}: {summary['rows']:,} rows checked; nothing was sent")
    by_code = Table()
    by_code.add_column("outcome")
    by_code.add_column("rows", justify="right")
    accepted = "accepted"
    if findings.held:
        accepted += f" (held until {findings.held_until}: the sending window is closed)"
    by_code.add_row(accepted, f"{findings.tally.accepted:,}")
    for code, n in summary["refused"].items():
        by_code.add_row(f"refused {code}", f"{n:,}")
    by_code.add_row("SMS parts (fee_num) of the accepted", f"{findings.fee_num:,}")
    console.print(by_code)
