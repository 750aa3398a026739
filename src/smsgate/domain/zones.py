"""The time zones a recipient lives in, taken from the number (for the sending window).

``phonenumbers`` knows the zones of a number's range (``timezone.time_zones_for_number``); a
number may span several (a Russian mobile, a US non-geographic ``+1 500``), and the sending
window must then hold in all of them (:meth:`SendWindow.opens`).  Mainland numbers (``+86``)
keep the service's configured zone, as before; so does a number whose zone is unknown.

The zone data comes from the ``tzdata`` package where the system has none (``zoneinfo``
falls back to it), so the same names resolve on every machine.
"""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone

__all__ = ["is_mainland", "zones_for"]

MAINLAND = "+86"


def is_mainland(e164: str) -> bool:
    """True for a mainland China number (``+86``), in E.164 as the accept path stores it."""
    return e164.startswith(MAINLAND)


def zones_for(e164: str, home: ZoneInfo) -> tuple[ZoneInfo, ...]:
    """The zones the window of a message to ``e164`` applies in: ``(home,)`` for a mainland
    number or one whose zone is unknown, else every zone the number's range spans."""
    if is_mainland(e164):
        return (home,)
    return _zones(e164) or (home,)


@lru_cache(maxsize=65_536)  # parsing costs tens of microseconds; a campaign repeats numbers
def _zones(e164: str) -> tuple[ZoneInfo, ...]:
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return ()
    found: list[ZoneInfo] = []
    for name in timezone.time_zones_for_number(parsed):
        try:
            found.append(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):  # "Etc/Unknown", or a zone tzdata lacks
            continue
    return tuple(found)
