"""The file ``smsgate send --template`` reads: numbers only, the text being the template's.

CSV (a header naming ``endpoint``, other columns ignored; or no header at all, one number a
line, in the first cell) or, when its name ends in ``.jsonl``/``.ndjson``, JSON Lines (an object
with ``endpoint``, or a bare string or number a line).  Text as ``smsgate send`` reads it
(UTF-8, with or without a BOM, else GB18030).  A row without a number is refused here with
``SMN.0024`` and never sent.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

from smsgate.cli.bulk import Row, Source, _records, read_file

_MISSING = "Parameter: endpoint missing (row not sent)."


def read_numbers(path: Path) -> Source:
    data, text, is_jsonl = read_file(path)
    endpoints = _jsonl(text) if is_jsonl else _csv(text, path)
    rows = [Row(n, e, "", problem=None if e else _MISSING) if isinstance(e, str)
            else Row(n, "", "", problem=e[0]) for n, e in enumerate(endpoints, start=1)]
    return Source(path, hashlib.sha256(data).hexdigest(), rows)


def _csv(text: str, path: Path) -> list[str | tuple[str]]:
    reader = _records(csv.reader(io.StringIO(text, newline=""), strict=True), path)
    records = [r for r in reader if any(cell.strip() for cell in r)]  # blank lines are not rows
    if not records:
        return []
    header = [cell.strip().lower() for cell in records[0]]
    column = header.index("endpoint") if "endpoint" in header else None
    if column is None:
        return [r[0].strip() for r in records]  # no header: a number a line
    return [r[column].strip() if column < len(r) else "" for r in records[1:]]


def _jsonl(text: str) -> list[str | tuple[str]]:
    found: list[str | tuple[str]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            found.append((f"Parameter: the line is not valid JSON ({exc}).",))
            continue
        if isinstance(value, dict):
            value = value.get("endpoint")
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # a number written as a JSON number
        found.append(value.strip() if isinstance(value, str)
                     else ("Parameter: endpoint must be a string.",) if value is not None else "")
    return found
