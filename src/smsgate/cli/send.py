"""``smsgate send FILE``: a whole recipients file through the public API, 999 rows a request,
resumable.

Every answer is written to the results CSV (one line per row: its message_id, or the code,
message and sensitive word it was refused with), then recorded in a journal next to it
(``RESULTS.journal``): a header naming the file (its SHA-256), the project and the signature
(and the template, with ``--template``), then one line per answered batch with the results
file's size after its rows.  Both are fsync'd, results first.  A rerun reads the journal, cuts the results back to the last recorded
size (rows written by a run that died before recording them), skips the batches it records and
appends the rest.

Between the server's commit and the journal's line there is still a gap: a run that dies there
sends that batch again on the rerun.  Every batch therefore carries ``X-Idempotency-Key:
<sha256 of the file, 16 hex>-<of the project and signature, 8 hex>-<its first row>``, the same
on every run, which the server answers with the response it stored instead of sending twice.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
from pathlib import Path
from typing import Annotated, BinaryIO, Optional

import typer

from smsgate.cli.bulk import (
    DEFAULT_SERVER,
    MALFORMED,
    AkOpt,
    Api,
    BulkError,
    Credentials,
    File,
    ProjectOpt,
    RetriesOpt,
    Row,
    ServerOpt,
    SignOpt,
    SkOpt,
    Source,
    Tally,
    TokenOpt,
    batches,
    credentials,
    fail,
    progress,
    read_source,
)
from smsgate.cli.numbers import read_numbers

#: the input row (its number, then its cells), then the answer: ``text`` is the row's message
#: as sent, ``message`` the server's explanation of a refusal
RESULT_COLUMNS = ("row", "endpoint", "extend_code", "text", "message_id", "code", "message",
                  "sensitive_word")
_BOM = "\ufeff".encode()  # spreadsheets then read the results as UTF-8
JOURNAL_VERSION = 2  # 1 had no input cells in the results
_CODE = RESULT_COLUMNS.index("code")

ResultsOpt = Annotated[Optional[Path], typer.Option(
    "--results", help="Results CSV (default FILE's name + .results.csv); its journal beside it.")]


TemplateOpt = Annotated[Optional[str], typer.Option(
    "--template", help="Send this approved template (its id) to a file of numbers only.")]


def send(
    file: File,
    project: ProjectOpt,
    sign: SignOpt,
    server: ServerOpt = DEFAULT_SERVER,
    ak: AkOpt = None,
    sk: SkOpt = None,
    token: TokenOpt = None,
    results: ResultsOpt = None,
    retries: RetriesOpt = 4,
    template: TemplateOpt = None,
) -> None:
    """Send every row of a CSV or JSON Lines file (999 a request), with a results CSV; rerun
    the same command to resume an interrupted run.  With --template, the file holds numbers
    only (an endpoint column, or a number a line) and every row gets the template's text."""
    try:
        _send(file, project, sign, server, credentials(ak, sk, token), results, retries, template)
    except BulkError as exc:
        fail(str(exc))


def default_results(file: Path) -> Path:
    """``list.csv`` → ``list.results.csv``; ``list.jsonl`` → ``list.jsonl.results.csv`` (so
    that two files of one name do not share results)."""
    stem = file.stem if file.suffix.lower() == ".csv" else file.name
    return file.with_name(f"{stem}.results.csv")


def _send(file: Path, project: str, sign: str, server: str, creds: Credentials,
          results: Path | None, retries: int, template: str | None = None) -> None:
    source = read_numbers(file) if template else read_source(file)
    results_path = results or default_results(file)
    run = Run.open(results_path, source, project, sign, template)
    earlier = run.tally.rows
    try:
        with Api(server, project, creds, retries) as api, progress() as bar:
            task = bar.add_task("sending", total=len(source.rows), completed=earlier,
                                tally=run.tally.describe())
            for chunk in batches(source.rows):
                first = chunk[0].number
                if first in run.answered:
                    continue
                sendable = [r for r in chunk if r.problem is None]
                answers = _post(api, sendable, first, source, project, sign, template)
                run.record(chunk, answers)
                bar.update(task, advance=len(chunk), tally=run.tally.describe())
    except BulkError as exc:
        raise BulkError(f"{exc}; {run.tally.rows:,} of {len(source.rows):,} rows answered,"
                        " run the same command again to resume") from None
    except KeyboardInterrupt:
        typer.echo(f"smsgate: interrupted: {run.tally.rows:,} of {len(source.rows):,} rows answered,"
                   f" results in {results_path}; run the same command again to resume", err=True)
        raise typer.Exit(130) from None
    finally:
        run.close()
    again = f" ({earlier:,} answered by an earlier run)" if earlier else ""
    typer.echo(f"{file}: {len(source.rows):,} rows{again}: {run.tally.describe()};"
               f" results in {results_path}")


def _post(api: Api, rows: list[Row], first: int, source: Source, project: str, sign: str,
          template: str | None) -> list[dict]:
    """A batch's answers: the headline call, or with a template the template call (a batch
    key of its own: the same file sent with another template is another request)."""
    if not rows:
        return []
    if template is None:
        return api.promotion([r.item(sign) for r in rows], first,
                             idempotency_key=source.idempotency_key(first, project, sign))
    return api.template(template, sign, [r.endpoint for r in rows], first,
                        idempotency_key=source.idempotency_key(first, project, f"{sign}/{template}"))


def result_line(row: Row, answer: dict | None) -> tuple[object, ...]:
    """The results CSV's line for a row: answered by the server, or refused here."""
    cells = (row.number, row.endpoint, row.extend_code or "", row.message)
    if answer is None:
        return (*cells, "", MALFORMED, row.problem, "")
    return (*cells, answer.get("message_id") or "", answer.get("code") or "",
            answer.get("message") or "", answer.get("sensitive_word") or "")


def _csv_bytes(lines: list[tuple[object, ...]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(lines)
    return out.getvalue().encode("utf-8")


def _write_synced(fh: BinaryIO, data: bytes) -> None:
    fh.write(data)
    fh.flush()
    os.fsync(fh.fileno())


def _sync_dir(path: Path) -> None:
    """Make a new file's directory entry durable too (where the OS allows it)."""
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Run:
    """The results file and its journal, open for appending.  A new run creates both with its
    first answered batch, so a run refused before any answer (a wrong project, key or URL)
    leaves nothing that stands in the way of the corrected command.  The journal is locked
    while a run writes: a second run of the same results stops at once instead of
    interleaving its lines."""

    def __init__(self, results_path: Path, header: dict, answered: set[int], tally: Tally,
                 files: tuple[BinaryIO, BinaryIO] | None = None) -> None:
        self.results_path = results_path
        self.journal_path = _journal_path(results_path)
        self._header = header
        self._files = files  # (results, journal), once there is something to write
        self.answered = answered  # first rows of the batches already answered
        self.tally = tally

    @classmethod
    def open(cls, results_path: Path, source: Source, project: str, sign: str,
             template: str | None = None) -> Run:
        header = {"journal": JOURNAL_VERSION, "file": str(source.path), "sha256": source.sha256,
                  "project": project, "sign": sign, "rows": len(source.rows)}
        if template is not None:
            header["template"] = template
        journal_path = _journal_path(results_path)
        if journal_path.exists():
            return cls._resume(results_path, header)
        if results_path.exists():
            raise BulkError(f"{results_path} exists but has no journal ({journal_path.name}):"
                            " choose another --results, or remove it to start over")
        if not results_path.parent.is_dir():
            raise BulkError(f"cannot create {results_path}: no such directory")
        return cls(results_path, header, set(), Tally())

    def _create(self) -> tuple[BinaryIO, BinaryIO]:
        try:
            journal = open(self.journal_path, "xb")
        except FileExistsError:
            raise BulkError(f"another smsgate send is writing {self.results_path}") from None
        except OSError as exc:
            raise BulkError(f"cannot create {self.journal_path}: {exc.strerror or exc}") from None
        _lock(journal, self.journal_path)
        try:
            results = open(self.results_path, "xb")
        except OSError as exc:
            journal.close()
            self.journal_path.unlink()
            raise BulkError(f"cannot create {self.results_path}: {exc.strerror or exc}") from None
        _write_synced(results, _BOM + _csv_bytes([RESULT_COLUMNS]))
        _write_synced(journal, json.dumps({**self._header, "results_bytes": results.tell()}).encode() + b"\n")
        _sync_dir(self.journal_path)
        return results, journal

    @classmethod
    def _resume(cls, results_path: Path, header: dict) -> Run:
        journal_path = _journal_path(results_path)
        journal = open(journal_path, "r+b")
        _lock(journal, journal_path)
        try:
            data = journal.read()
            entries: list[dict] = []
            kept = 0  # bytes of whole, valid lines: a line cut short by a crash is dropped
            for line in data.splitlines(keepends=True):
                try:
                    entry = json.loads(line) if line.endswith(b"\n") else None
                except ValueError:
                    entry = None
                if not isinstance(entry, dict):
                    break
                entries.append(entry)
                kept += len(line)
            if not entries or entries[0].get("journal") != JOURNAL_VERSION:
                raise BulkError(f"{journal_path} is not a journal of this smsgate send; remove it or"
                                " choose another --results")
            first, batches_done = entries[0], entries[1:]
            for key, label in (("sha256", "file"), ("project", "project"), ("sign", "signature"),
                               ("template", "template")):
                if first.get(key) != header.get(key):
                    raise BulkError(f"{journal_path} records another {label} ({first.get(key)});"
                                    " choose another --results for this run")
            size = (batches_done[-1] if batches_done else first)["results_bytes"]
            if not results_path.exists() or results_path.stat().st_size < size:
                raise BulkError(f"{results_path} is missing or shorter than its journal records;"
                                " restore it, or remove both to start over")
            results = open(results_path, "r+b")
            results.truncate(size)  # rows of a batch the journal does not record are written again
            tally = Tally()
            for record in csv.DictReader(io.StringIO(results.read().decode("utf-8-sig"), newline="")):
                tally.add(record["code"] or None)
            journal.truncate(kept)
            journal.seek(kept)
            return cls(results_path, header, {int(e["first_row"]) for e in batches_done}, tally,
                       (results, journal))
        except BaseException:  # refused, or unreadable: the lock goes with the file
            journal.close()
            raise

    def record(self, chunk: list[Row], answers: list[dict]) -> None:
        """A batch's rows into the results, then the journal line saying they are there."""
        if self._files is None:
            self._files = self._create()
        results, journal = self._files
        replies = iter(answers)
        lines = [result_line(r, None if r.problem else next(replies)) for r in chunk]
        _write_synced(results, _csv_bytes(lines))
        entry = {"first_row": chunk[0].number, "last_row": chunk[-1].number,
                 "results_bytes": results.tell()}
        _write_synced(journal, json.dumps(entry).encode() + b"\n")
        self.answered.add(chunk[0].number)
        for line in lines:
            self.tally.add(str(line[_CODE]) or None)

    def close(self) -> None:
        if self._files is not None:
            for fh in self._files:
                fh.close()


def _journal_path(results_path: Path) -> Path:
    return results_path.with_name(results_path.name + ".journal")


def _lock(journal: BinaryIO, path: Path) -> None:
    """Hold the journal for this run (released when the file is closed, or the process ends)."""
    try:
        fcntl.flock(journal.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        journal.close()
        raise BulkError(f"another smsgate send is writing {path.name}'s results; let it finish") from None
