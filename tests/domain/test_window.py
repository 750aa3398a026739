"""The sending window: open/closed by local time, and when a held message may go."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.domain.errors import BadRequest
from smsgate.domain.window import SendWindow

SH = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize("text", ["8-20", "08:00", "25:00-01:00", "08:60-09:00", "08:00-24:01", "08:00-08:00", ""])
def test_bad_windows_are_refused(text: str) -> None:
    with pytest.raises(BadRequest):
        SendWindow.parse(text)


def test_default_window_opens_at_eight_and_closes_at_twenty() -> None:
    w = SendWindow.parse("08:00-20:00")
    assert not w.is_open(time(7, 59)) and w.is_open(time(8, 0)) and w.is_open(time(19, 59))
    assert not w.is_open(time(20, 0))


def test_always_and_overnight_windows() -> None:
    assert SendWindow.parse("00:00-24:00").always
    overnight = SendWindow.parse("21:00-09:00")
    assert overnight.is_open(time(23, 0)) and overnight.is_open(time(8, 59)) and not overnight.is_open(time(12, 0))


def test_a_message_accepted_at_night_waits_for_the_morning() -> None:
    w = SendWindow.parse("08:00-20:00")
    night = datetime(2026, 11, 25, 22, 30, tzinfo=SH)
    assert w.next_open(night) == datetime(2026, 11, 26, 8, 0, tzinfo=SH)
    early = datetime(2026, 11, 25, 6, 0, tzinfo=SH)
    assert w.next_open(early) == datetime(2026, 11, 25, 8, 0, tzinfo=SH)


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)),
       st.integers(0, 23), st.integers(1, 24))
def test_next_open_is_never_at_night_nor_in_the_past(naive: datetime, start: int, length: int) -> None:
    end = min(start + length, 24)
    if start == end:
        return
    w = SendWindow.parse(f"{start:02d}:00-{end:02d}:00")
    now = naive.replace(tzinfo=SH)
    opened = w.next_open(now)
    assert opened >= now and w.is_open(opened.time())
    assert (opened - now).total_seconds() <= 24 * 3600
