"""What ``smsgate send`` and ``smsgate check`` share: reading a recipients file, the server and
credential options, the public API over HTTP (signed like Huawei's SDK), and the progress bar.

A file is CSV (a header naming ``endpoint`` and ``message``, optionally ``extend_code``; other
columns are ignored) or, when its name ends in ``.jsonl``/``.ndjson``, JSON Lines (one object a
line with those keys).  Text is UTF-8, with or without a BOM, else GB18030 (which covers GBK).
Row N is the Nth record after the header (CSV) or the Nth non-blank line (JSONL).  A row
without an endpoint or a message is refused here, with ``SMN.0024``, and never sent.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

import httpx
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
)
from rich.text import Text

from smsgate.auth.sdk_hmac import sign_request
from smsgate.config import FlagEnv

BATCH = 999  # the API's limit per request
MALFORMED = "SMN.0024"  # what a row refused locally gets (the API's "content is invalid")
IDEMPOTENCY_HEADER = "X-Idempotency-Key"
JSON_TYPE = "application/json;charset=UTF-8"
DEFAULT_SERVER = "http://127.0.0.1:8080"

# --- options, shared by both commands -----------------------------------------------------------

File = Annotated[Path, typer.Argument(help="CSV (endpoint,message[,extend_code]) or .jsonl.",
                                      show_default=False)]
ProjectOpt = Annotated[str, typer.Option("--project", help="The project id.", show_default=False)]
SignOpt = Annotated[str, typer.Option("--sign", help="The sign_id every row is sent with.",
                                      show_default=False)]
ServerOpt = Annotated[str, typer.Option("--server", envvar=FlagEnv.SERVER, help="The API's URL.")]
AkOpt = Annotated[Optional[str], typer.Option("--ak", envvar=FlagEnv.ACCESS_KEY, help="Access key.")]
SkOpt = Annotated[Optional[str], typer.Option("--sk", envvar=FlagEnv.SECRET_KEY, help="Secret key.")]
TokenOpt = Annotated[Optional[str], typer.Option("--token", envvar=FlagEnv.TOKEN,
                                                 help="An X-Auth-Token instead of AK/SK.")]
RetriesOpt = Annotated[int, typer.Option("--retries", min=0, max=10,
                                         help="Retries of a batch on 5xx or no connection.")]


class BulkError(Exception):
    """Why a command stops; :func:`fail` reports it."""


def fail(message: str) -> NoReturn:
    """The command line's refusal: one line on stderr, exit 1 (as ``smsgate.cli`` does)."""
    typer.echo(f"smsgate: error: {message}", err=True)
    raise typer.Exit(1)


# --- reading the file ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    number: int  # 1-based, header not counted
    endpoint: str
    message: str
    extend_code: str | None = None
    problem: str | None = None  # why it cannot be sent; None when it can

    def item(self, sign_id: str) -> dict[str, str]:
        """The ``sms_message`` item this row becomes."""
        item = {"endpoint": self.endpoint, "message": self.message, "sign_id": sign_id}
        if self.extend_code:
            item["extend_code"] = self.extend_code
        return item


@dataclass(frozen=True, slots=True)
class Source:
    path: Path
    sha256: str  # of the file's bytes
    rows: list[Row]

    def idempotency_key(self, first_row: int, project: str, sign: str) -> str:
        """Names one batch of this file sent to this project with this signature, the same on
        every run: a retried batch is answered with the stored response instead of being sent
        twice (and the file sent with another signature is another request)."""
        scope = hashlib.sha256(f"{project}/{sign}".encode()).hexdigest()[:8]
        return f"{self.sha256[:16]}-{scope}-{first_row}"


def read_source(path: Path) -> Source:
    data, text, is_jsonl = read_file(path)
    rows = _jsonl_rows(text) if is_jsonl else _csv_rows(text, path)
    return Source(path, hashlib.sha256(data).hexdigest(), rows)


def read_file(path: Path) -> tuple[bytes, str, bool]:
    """A recipients file's bytes, its text (UTF-8 or GBK) and whether it is JSON Lines."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BulkError(f"cannot read {path}: {exc.strerror or exc}") from None
    return data, _decode(data, path), path.suffix.lower() in (".jsonl", ".ndjson")


def _decode(data: bytes, path: Path) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise BulkError(f"{path} is neither UTF-8 nor GBK/GB18030 text")


def _csv_rows(text: str, path: Path) -> list[Row]:
    """Rows of a CSV file.  Quoting is strict: a stray quote stops the command with the line it
    is on (a quote left open would otherwise swallow the rows after it into one message), and
    a row with more non-empty cells than the header is refused (an unquoted comma in the
    message would otherwise cut it short)."""
    reader = _records(csv.reader(io.StringIO(text, newline=""), strict=True), path)
    header = next((r for r in reader if any(cell.strip() for cell in r)), None)
    columns = {name.strip().lower(): i for i, name in reversed(list(enumerate(header or [])))}
    if "endpoint" not in columns or "message" not in columns:
        found = ",".join(header or []) or "nothing"
        raise BulkError(f"{path}: the header row must name the columns endpoint and message"
                        f" (found: {found})")

    def cell(record: list[str], name: str) -> str:
        i = columns.get(name)
        return record[i] if i is not None and i < len(record) else ""

    rows: list[Row] = []
    width = len(header or [])
    for record in reader:
        if not any(c.strip() for c in record):
            continue  # blank lines are not rows
        row = _row(len(rows) + 1, cell(record, "endpoint").strip(), cell(record, "message"),
                   cell(record, "extend_code").strip() or None)
        if any(c.strip() for c in record[width:]):
            row = replace(row, problem=f"Parameter: the row has {len(record)} cells, the header"
                                       f" {width}; quote a message that holds commas (row not sent).")
        rows.append(row)
    return rows


def _records(reader: Any, path: Path) -> Iterator[list[str]]:
    """The reader's records; bad CSV stops the command, naming the line its record begins on."""
    while True:
        start = reader.line_num + 1
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise BulkError(f"{path}, line {start}: not valid CSV ({exc}); quote a message that"
                            " holds commas, quotes or line breaks, and double its quotes") from None


def _jsonl_rows(text: str) -> list[Row]:
    rows: list[Row] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        number = len(rows) + 1
        try:
            record = json.loads(line)
        except ValueError as exc:
            problem = f"Parameter: the line is not valid JSON ({exc})."
            rows.append(Row(number, "", "", problem=problem))
            continue
        if not isinstance(record, dict):
            rows.append(Row(number, "", "", problem="Parameter: the line is not a JSON object."))
            continue
        values = {k: record.get(k) for k in ("endpoint", "message", "extend_code")}
        if isinstance(values["endpoint"], int) and not isinstance(values["endpoint"], bool):
            values["endpoint"] = str(values["endpoint"])  # a number written as a JSON number
        wrong = [k for k, v in values.items() if v is not None and not isinstance(v, str)]
        if wrong:
            endpoint = values["endpoint"]
            shown = endpoint if isinstance(endpoint, str) else json.dumps(endpoint)
            rows.append(Row(number, shown, "", problem=f"Parameter: {wrong[0]} must be a string."))
            continue
        rows.append(_row(number, (values["endpoint"] or "").strip(), values["message"] or "",
                         (values["extend_code"] or "").strip() or None))
    return rows


def _row(number: int, endpoint: str, message: str, extend_code: str | None) -> Row:
    missing = [name for name, value in (("endpoint", endpoint), ("message", message.strip()))
               if not value]
    problem = f"Parameter: {' and '.join(missing)} missing (row not sent)." if missing else None
    return Row(number, endpoint, message, extend_code, problem)


def batches(rows: Sequence[Row]) -> Iterator[list[Row]]:
    """Rows in runs of :data:`BATCH`, by position: the same runs on every run of a file."""
    for start in range(0, len(rows), BATCH):
        yield list(rows[start:start + BATCH])


# --- the API ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key: str | None = None
    secret_key: str | None = None
    token: str | None = None


def credentials(ak: str | None, sk: str | None, token: str | None) -> Credentials:
    if (ak or sk) and token:
        raise BulkError("give either --ak/--sk or --token (SMSGATE_AK/SMSGATE_SK or SMSGATE_TOKEN),"
                        " not both")
    if ak or sk:
        if not (ak and sk):
            raise BulkError("--ak and --sk go together (or SMSGATE_AK and SMSGATE_SK)")
        return Credentials(access_key=ak, secret_key=sk)
    if not token:
        raise BulkError("no credentials: give --ak and --sk, or --token (or SMSGATE_AK/SMSGATE_SK,"
                        " SMSGATE_TOKEN)")
    return Credentials(token=token)


class Api:
    """The headline call over HTTP.  Transient failures (no connection, 5xx, 429) are retried
    with backoff; anything else, or the last failure, raises :class:`BulkError`."""

    def __init__(self, server: str, project_id: str, creds: Credentials, retries: int = 4,
                 backoff_s: float = 0.5) -> None:
        if not server.startswith(("http://", "https://")):
            raise BulkError(f"--server {server!r} is not an http:// or https:// URL")
        self.url = f"{server.rstrip('/')}/v2/{project_id}/notifications/sms/promotion"
        self.creds = creds
        self.retries = retries
        self.backoff_s = backoff_s
        self._http = httpx.Client(timeout=httpx.Timeout(120.0, connect=10.0))

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def promotion(self, items: list[dict[str, str]], first_row: int, *, dry_run: bool = False,
                  idempotency_key: str | None = None) -> list[dict]:
        """The per-item results for ``items`` (the batch beginning at row ``first_row``).

        A dry run whose answer is not one (a server that ignores ``dry_run`` sends for real)
        stops the command at once, saying so."""
        return self._post({"sms_message": items}, len(items), first_row, dry_run, idempotency_key)

    def template(self, template_id: str, sign_id: str, endpoints: list[str], first_row: int, *,
                 idempotency_key: str | None = None) -> list[dict]:
        """The template call (one approved template to ``endpoints``): a result per number."""
        body = {"sms_template_id": template_id, "sign_id": sign_id, "endpoints": endpoints}
        return self._post(body, len(endpoints), first_row, False, idempotency_key)

    def _post(self, payload: dict, count: int, first_row: int, dry_run: bool,
              idempotency_key: str | None) -> list[dict]:
        url = f"{self.url}?dry_run=true" if dry_run else self.url
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": JSON_TYPE}
        if idempotency_key:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        where = f"the batch at row {first_row}"
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                signed = self._signed(url, headers, body)
                response = self._http.post(url, content=body, headers=signed)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc or 'no answer'}"
                continue
            if response.status_code >= 500 or response.status_code == 429:
                problem = _describe(response)
                continue
            if response.status_code != 200:
                raise BulkError(f"the server refused {where}: {_describe(response)}")
            try:
                answer = response.json()
                results = answer["result"]
            except (ValueError, KeyError, TypeError):
                raise BulkError(f"the answer to {where} is not a promotion response") from None
            if dry_run and answer.get("dry_run") is not True:
                raise BulkError(f"the server does not support dry runs: it SENT {where}; stopped")
            if not isinstance(results, list) or len(results) != count:
                found = len(results) if isinstance(results, list) else "no list of"
                raise BulkError(f"the server answered {where} with {found} results"
                                f" for {count} items")
            return results
        tries = self.retries + 1
        raise BulkError(f"{self.url.split('/v2/')[0]} did not take {where} ({problem}) after"
                        f" {tries} attempt{'s' if tries > 1 else ''}")

    def _signed(self, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        if self.creds.token:
            return {**headers, "X-Auth-Token": self.creds.token}
        assert self.creds.access_key and self.creds.secret_key
        extra = [IDEMPOTENCY_HEADER] if IDEMPOTENCY_HEADER in headers else []
        return {**headers, **sign_request("POST", url, headers, body, self.creds.access_key,
                                          self.creds.secret_key, sign_headers=extra)}


def _describe(response: httpx.Response) -> str:
    """``403 SMN.0228 No permission…``, from either error shape the API answers in."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = body.get("code") or body.get("error_code") or ""
    message = body.get("message") or body.get("error_msg") or response.reason_phrase
    return " ".join(str(p) for p in (response.status_code, code, message) if p)


# --- counting and progress ----------------------------------------------------------------------


@dataclass
class Tally:
    """Rows answered so far: accepted, and refused by code."""

    accepted: int = 0
    refused: Counter[str] = field(default_factory=Counter)

    def add(self, code: str | None) -> None:
        if code:
            self.refused[code] += 1
        else:
            self.accepted += 1

    @property
    def rows(self) -> int:
        return self.accepted + sum(self.refused.values())

    def describe(self) -> str:
        refused = sum(self.refused.values())
        text = f"{self.accepted:,} accepted, {refused:,} refused"
        if refused:
            text += " (" + ", ".join(f"{c} {n:,}" for c, n in sorted(self.refused.items())) + ")"
        return text


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} msg/s" if speed else "- msg/s", style="progress.data.speed")


def stdout_console() -> Console:
    """Rich's console for tables; wide when piped (rich would cut them to 80 columns)."""
    return Console() if sys.stdout.isatty() else Console(width=160)


def progress() -> Progress:
    """A bar on stderr while the command runs (a terminal only): rows answered of all,
    messages/second, and the running tally (the task's ``tally`` field)."""
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _Rate(),
        TextColumn("{task.fields[tally]}"),
        console=Console(stderr=True), transient=True,  # the command's last line says it all
    )


__all__ = ["BATCH", "MALFORMED", "Api", "BulkError", "Row", "Source", "Tally", "batches",
           "credentials", "fail", "progress", "read_source", "stdout_console"]
