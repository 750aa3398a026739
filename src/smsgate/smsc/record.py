"""The record of accepted submit_sm: JSON Lines that load tests count for loss and duplicates.

Lines are buffered in memory and written every ``interval`` seconds or every ``batch`` lines,
whichever comes first, because a write per message would cost more than the message itself.
:meth:`Recorder.close` writes what is left, so an orderly shutdown loses nothing; a crash may
lose the last ``interval``.  The file is truncated at start: one run, one count.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec

__all__ = ["Recorder"]


class Recorder:
    """Appends one JSON object per line; a Recorder without a path drops everything."""

    def __init__(self, path: Path | None, *, interval: float = 0.2, batch: int = 2000) -> None:
        self._file = open(path, "wb") if path else None  # noqa: SIM115
        self._lines: list[bytes] = []
        self._encode = msgspec.json.Encoder().encode  # UTF-8 as is (json.dumps was a fifth of a submit)
        self._interval = interval
        self._batch = batch
        self._timer: asyncio.TimerHandle | None = None

    def write(self, entry: dict[str, Any]) -> None:
        if self._file is None:
            return
        self._lines.append(self._encode(entry))
        if len(self._lines) >= self._batch:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._interval, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._file is None or not self._lines:
            return
        self._file.write(b"\n".join(self._lines) + b"\n")
        self._file.flush()
        self._lines.clear()

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None
