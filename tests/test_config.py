"""Settings are read in one place: ``Settings.from_env`` (and the flags' ``FlagEnv`` names)."""

from __future__ import annotations

import json
import logging

import pytest

from smsgate import logs
from smsgate.config import Settings


def test_logging_and_console_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings.from_env()
    assert (defaults.log_level, defaults.log_pii, defaults.console_session_hours) == ("info", False, 8.0)
    monkeypatch.setenv("SMSGATE_LOG_LEVEL", "warning")
    monkeypatch.setenv("SMSGATE_LOG_PII", "1")
    monkeypatch.setenv("SMSGATE_CONSOLE_SESSION_HOURS", "0.5")
    settings = Settings.from_env()
    assert (settings.log_level, settings.log_pii, settings.console_session_hours) == ("warning", True, 0.5)


def test_the_bound_on_unstored_parts_is_a_setting_and_must_be_positive(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.from_env().unrecorded_max == 1024
    monkeypatch.setenv("SMSGATE_UNRECORDED_MAX", "64")
    assert Settings.from_env().unrecorded_max == 64
    monkeypatch.setenv("SMSGATE_UNRECORDED_MAX", "0")
    with pytest.raises(ValueError, match="SMSGATE_UNRECORDED_MAX"):
        Settings.from_env()


@pytest.mark.parametrize("pii", [False, True])
def test_log_lines_show_numbers_only_when_the_settings_say_so(pii: bool, capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.setup("info", pii=pii)
        logging.getLogger("smsgate.test").info("sent", extra={"e164": "+8613800138000"})
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert (line["e164"] == "+8613800138000") is pii
