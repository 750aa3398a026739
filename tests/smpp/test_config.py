"""Channel configuration files: what a carrier link needs, refused clearly when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from smsgate.smpp.config import ChannelConfigError, load_channels
from smsgate.dispatch.router import Router
from tests.dispatch.fakes import FakeChannel

TOML = """
[[channel]]
name = "cmcc"
host = "127.0.0.1"
port = 2775
system_id = "acme"
password = "secret"
source_addr = "10690001"
prefixes = ["cn-mobile"]
window = 32
tps = 100

[[channel]]
name = "intl"
host = "127.0.0.1"
port = 2776
system_id = "acme"
password = "secret"
prefixes = ["*"]
bind = "tx+rx"
receipt_tz = "UTC"
receipt_id_format = "decimal"
"""


def test_toml_and_json_channels(tmp_path: Path) -> None:
    path = tmp_path / "channels.toml"
    path.write_text(TOML)
    [(cmcc, cmcc_prefixes), (intl, intl_prefixes)] = load_channels(path)
    assert (cmcc.name, cmcc.port, cmcc.window, cmcc.tps, cmcc_prefixes) == ("cmcc", 2775, 32, 100, ["cn-mobile"])
    assert (intl.bind, intl_prefixes) == ("tx+rx", ["*"])
    assert (cmcc.receipt_tz, cmcc.receipt_id_format) == ("Asia/Shanghai", "auto")  # the defaults
    assert (intl.receipt_tz, intl.receipt_id_format) == ("UTC", "decimal")
    as_json = tmp_path / "channels.json"
    as_json.write_text('[{"name": "a", "host": "127.0.0.1", "port": 1, "system_id": "x", "password": "y"}]')
    [(a, prefixes)] = load_channels(as_json)
    assert a.name == "a" and prefixes == ["*"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "defines no"),
        ("[[channel]]\nname='a'\nhost='h'\nport=1\nsystem_id='x'\npassword='y'\nwindoww=3\n", "windoww"),
        ("[[channel]]\nname='a'\n", "a"),
        ("not toml at all [", "cannot read"),
        ("[[channel]]\nname='a'\nhost='h'\nport=1\nsystem_id='x'\npassword='y'\nreceipt_tz='UTC+8'\n",
         "channel 'a': receipt_tz 'UTC\\+8' is not a time zone"),
        ("[[channel]]\nname='a'\nhost='h'\nport=1\nsystem_id='x'\npassword='y'\nreceipt_id_format='hex8'\n",
         "channel 'a': receipt_id_format must be one of auto, hex, decimal, string, not 'hex8'"),
    ],
)
def test_bad_files_are_refused_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "channels.toml"
    path.write_text(text)
    with pytest.raises(ChannelConfigError, match=message):
        load_channels(path)


def test_longest_prefix_wins_and_down_channels_fail_over() -> None:
    mobile, unicom, default = FakeChannel("mobile"), FakeChannel("unicom"), FakeChannel("default")
    router = Router([(default, ["*"]), (mobile, ["cn-mobile"]), (unicom, ["cn-unicom", "+44"])])
    assert router.pick("+8613800138000") is mobile
    assert router.pick("+8613000000000") is unicom
    assert router.pick("+447911123456") is unicom
    assert router.pick("+12025550123") is default
    mobile.is_up = False
    assert router.pick("+8613800138000") is default
    default.is_up = False
    assert router.pick("+8613800138000") is None


def test_the_binds_of_one_link_take_turns_and_another_link_stays_the_failover() -> None:
    first, second, backup = FakeChannel("cmcc"), FakeChannel("cmcc"), FakeChannel("backup")
    router = Router([(first, ["cn-mobile"]), (second, ["cn-mobile"]), (backup, ["cn-mobile"])])
    picks = [router.pick("+8613800138000") for _ in range(100)]
    assert picks.count(first) == picks.count(second) == 50  # the backup carries nothing
    second.is_up = False
    assert {router.pick("+8613800138000") for _ in range(10)} == {first}
    first.is_up = False
    assert router.pick("+8613800138000") is backup
