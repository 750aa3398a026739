"""The local-time sending window of promotional SMS (SPEC §5)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from smsgate.domain.errors import BadRequest

_WINDOW = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])")


@dataclass(frozen=True, slots=True)
class SendWindow:
    """``start`` inclusive, ``end`` exclusive, in minutes after local midnight.

    ``00:00-24:00`` means always; a window whose end is before its start spans midnight
    (``21:00-09:00``).
    """

    start: int
    end: int

    @classmethod
    def parse(cls, text: str) -> SendWindow:
        match = _WINDOW.fullmatch(text.strip())
        if match is None or (match.group(3) == "24" and match.group(4) != "00"):
            raise BadRequest(f"send window {text!r} is invalid: use HH:MM-HH:MM, e.g. 08:00-20:00")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        window = cls(h1 * 60 + m1, h2 * 60 + m2)
        if window.start == window.end:
            raise BadRequest(f"send window {text!r} is empty; 00:00-24:00 means always")
        return window

    def is_open(self, at: time) -> bool:
        minute = at.hour * 60 + at.minute
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    @property
    def always(self) -> bool:
        return (self.start, self.end) == (0, 24 * 60)

    def next_open(self, now: datetime) -> datetime:
        """``now`` if the window is open, else the moment it next opens (``now`` is aware, in
        the window's time zone)."""
        if self.is_open(now.time()):
            return now
        opening = now.replace(hour=self.start // 60, minute=self.start % 60, second=0, microsecond=0)
        return opening if opening > now else opening + timedelta(days=1)

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"
