"""The local-time sending window of promotional SMS (SPEC §5), in the recipient's zones."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

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

    def opens(self, now: datetime, zones: Sequence[tzinfo]) -> datetime:
        """When a message to a recipient living in ``zones`` may be sent: ``now`` if the window
        is open in all of them, else the first moment it is.

        Where the zones lie so far apart that the window is never open in all of them at once
        (a ``+1 500`` number spans Guam to Samoa, 21 hours), the first moment it is open in the
        most of them.  ``now`` is aware; the answer is in ``now``'s zone.
        """
        if self.always or not zones:
            return now
        if len(zones) == 1:
            return self.next_open(now.astimezone(zones[0])).astimezone(now.tzinfo)
        # the window opens in the most zones at once at ``now`` or at an opening in one of them
        best, most = now, -1
        for at in sorted({now, *self._openings(now, zones)}):
            count = sum(self.is_open(at.astimezone(zone).time()) for zone in zones)
            if count == len(zones):
                return at
            if count > most:
                best, most = at, count
        return best

    def _openings(self, now: datetime, zones: Sequence[tzinfo]) -> list[datetime]:
        """Every opening of the window in each zone from ``now`` to two days on (the pattern
        repeats daily, give or take a DST change), as instants in ``now``'s zone."""
        start = time(self.start // 60, self.start % 60)
        found = []
        for zone in zones:
            today = now.astimezone(zone).date()
            for day in range(3):
                at = datetime.combine(today + timedelta(days=day), start, zone).astimezone(now.tzinfo)
                if at >= now:
                    found.append(at)
        return found

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"
