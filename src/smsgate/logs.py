"""Structured logs: one JSON object a line, a named event, the request id on every line.

Phone numbers are masked (``138****0000``) and message texts left out unless the operator
turns that on (``SMSGATE_LOG_PII=1``): logs travel further than the database does.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from contextvars import ContextVar

#: set by the RequestId middleware for the request being served
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "color_message"}
_NUMBER_FIELDS = {"e164", "number", "mobile", "endpoint", "source", "destination"}
_TEXT_FIELDS = {"text", "message_text", "reply"}
_LONG_NUMBER = re.compile(r"[0-9]{7,}")  # a phone number in a URL (?mobile=…)


def mask_number(number: str) -> str:
    """``+8613800138000`` → ``+86138****8000``: enough to tell numbers apart, not to dial."""
    digits = len(number)
    return number if digits <= 7 else number[: digits - 8] + "****" + number[-4:]


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, pii: bool = False) -> None:
        super().__init__()
        self.pii = pii

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, _, status = record.args  # uvicorn's access line, as fields
            masked = path if self.pii else _LONG_NUMBER.sub(lambda m: mask_number(m.group()), str(path))
            line.update(event="http_request", client=client, method=method, path=masked, status=status)
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line:
                line[key] = self._field(key, value)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)

    def _field(self, key: str, value: object) -> object:
        if self.pii:
            return value
        if key in _NUMBER_FIELDS and isinstance(value, str):
            return mask_number(value)
        if key in _TEXT_FIELDS:
            return f"<{len(value)} chars>" if isinstance(value, str) else "<hidden>"
        return value


def setup(level: str = "info", pii: bool = False) -> None:
    """JSON lines on stderr for the service and its libraries (uvicorn included); ``pii``:
    phone numbers and texts in full (``Settings.log_pii``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(pii=pii))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
