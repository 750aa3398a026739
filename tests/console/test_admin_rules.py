"""Admin input is ruled once (``domain.admin``): the same input gets the same verdict, in the
same words, from ``smsgate admin …`` and from the console's JSON API.

Each case runs through both, each on a project of its own; the command line runs in this
process (``smsgate.cli.main``, exit code and stderr as a shell sees them).
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

from smsgate.cli import main
from smsgate.domain.records import SignType
from tests.conftest import World
from tests.console.conftest import CSRF

#: what the command line or the console said: accepted, or the code and message refused with
Verdict = tuple[bool, str | None]


@dataclass(frozen=True)
class Rule:
    """How one admin input reaches each side: the command's arguments, and the console's call
    (method, path under /console/api, JSON body), for a project id, a sign id and the value."""

    cli: Callable[[str, str, object], list[str]]
    console: Callable[[str, str, object], tuple[str, str, dict]]


def _project_edit(field: str) -> Callable[[str, str, object], tuple[str, str, dict]]:
    return lambda pid, sid, value: ("PUT", f"projects/{pid}", {field: value})


RULES = {
    "project name": Rule(
        lambda pid, sid, v: ["admin", "project", "create", str(v)],
        lambda pid, sid, v: ("POST", "projects", {"name": v})),
    "grants": Rule(
        lambda pid, sid, v: ["admin", "project", "set", pid, *(f"--grant={g}" for g in v)],
        _project_edit("grants")),
    "daily cap": Rule(
        lambda pid, sid, v: ["admin", "project", "set", pid, f"--daily-cap={v}"],
        _project_edit("daily_cap")),
    "send window": Rule(
        lambda pid, sid, v: ["admin", "project", "set", pid, f"--send-window={v}"],
        _project_edit("send_window")),
    "sign name": Rule(
        lambda pid, sid, v: ["admin", "sign", "create", pid, str(v)],
        lambda pid, sid, v: ("POST", f"projects/{pid}/signs", {"name": v})),
    "sign type": Rule(
        lambda pid, sid, v: ["admin", "sign", "create", pid, "新签名", f"--type={v}"],
        lambda pid, sid, v: ("POST", f"projects/{pid}/signs", {"name": "新签名", "type": v})),
    "rejection note": Rule(
        lambda pid, sid, v: ["admin", "sign", "reject", pid, sid, f"--reason={v}"],
        lambda pid, sid, v: ("POST", f"projects/{pid}/signs/{sid}/reject",
                             {"reason_code": "OTHER", "note": v})),
    "words": Rule(
        lambda pid, sid, v: ["admin", "words", "add", pid, *v],
        lambda pid, sid, v: ("POST", f"projects/{pid}/words", {"words": v})),
    "opt-out numbers": Rule(
        lambda pid, sid, v: ["admin", "optout", "add", pid, sid, *v],
        lambda pid, sid, v: ("POST", f"projects/{pid}/optouts", {"sign_id": sid, "numbers": v})),
}

CASES = [
    ("project name", "acme", True),
    ("project name", "  acme  ", True),
    ("project name", "x" * 64, True),
    ("project name", "", False),
    ("project name", "   ", False),
    ("project name", "x" * 65, False),
    ("grants", ["promotion"], True),
    ("grants", [" promotion ", "beta.1", "promotion"], True),
    ("grants", ["Promotion"], False),
    ("grants", ["a b"], False),
    ("grants", ["x" * 33], False),
    ("daily cap", 1, True),
    ("daily cap", 1_000_000, True),
    ("daily cap", 0, False),
    ("daily cap", -5, False),
    ("daily cap", 1_000_001, False),
    ("send window", "09:00-18:00", True),
    ("send window", "21:00-09:00", True),
    ("send window", "00:00-24:00", True),
    ("send window", "25:00-26:00", False),
    ("send window", "9-18", False),
    ("send window", "08:00-08:00", False),
    ("sign name", "阿克米", True),
    ("sign name", "ab", True),
    ("sign name", "a", False),
    ("sign name", "阿克米阿克米阿克米", False),
    ("sign name", "阿 克", False),
    ("sign type", "notification", True),
    ("sign type", "marketing", False),
    ("rejection note", "the scan is blurry", True),
    ("rejection note", "x" * 200, True),
    ("rejection note", "x" * 201, False),
    ("words", ["赌博"], True),
    ("words", ["  赌博  ", "赌博", "x" * 64], True),
    ("words", ["  "], False),
    ("words", ["x" * 65], False),
    ("opt-out numbers", ["13800138000"], True),
    ("opt-out numbers", ["+8613800138000", "13900139000"], True),
    ("opt-out numbers", ["123"], False),
    ("opt-out numbers", ["13800138000", "not a number"], False),
]
#: refused by the command line's own argument parsing before the rule (typer shows the
#: choices): the verdict must agree, the words cannot
PARSER_REFUSES = {("sign type", repr("marketing"))}

_fresh = itertools.count()


def fresh_project(world: World) -> tuple[str, str]:
    """A project of its own for one side of one case, with a pending signature."""
    project_id, _ = world.new_project(f"case {next(_fresh)}")
    return project_id, world.store.create_sign(project_id, "待审", SignType.PROMOTIONAL).id


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Verdict:
    monkeypatch.setattr(sys, "argv", ["smsgate", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err.strip()
    if code == 0:
        return True, None
    return False, err.removeprefix("smsgate: error: ")


def run_console(console: TestClient, method: str, path: str, body: dict) -> Verdict:
    r = console.request(method, f"/console/api/{path}", json=body, headers=CSRF)
    if r.is_success:
        return True, None
    return False, f"{r.json()['code']} {r.json()['message']}"


@pytest.mark.parametrize(("rule", "value", "accepted"), CASES)
def test_the_command_line_and_the_console_rule_alike(
    rule: str, value: object, accepted: bool, console: TestClient, world: World,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    ways = RULES[rule]
    pid, sid = fresh_project(world)
    data = ["--data-dir", str(world.settings.data_dir)]
    by_cli = run_cli([*ways.cli(pid, sid, value), *data], monkeypatch, capsys)
    pid, sid = fresh_project(world)
    by_console = run_console(console, *ways.console(pid, sid, value))
    assert by_cli[0] is by_console[0] is accepted, (by_cli, by_console)
    if not accepted and (rule, repr(value)) not in PARSER_REFUSES:
        assert by_cli[1] == by_console[1]
        assert by_cli[1].startswith(("SMN.0024 ", "SMN.0012 ", "SMN.0081 ")), by_cli
