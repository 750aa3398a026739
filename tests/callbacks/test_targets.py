"""Which addresses callbacks may go to (``callbacks.targets``): the policy, the spellings of an
address, and how names are resolved and judged.  Nothing here opens a connection: names come
from resolvers written in the tests."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from smsgate.callbacks.targets import (
    CallbackGuard,
    CallbackPolicy,
    NameNotFound,
    ip_literal,
    parse_allow,
    split_url,
)
from smsgate.config import Settings
from smsgate.domain import errors

DEFAULT = CallbackPolicy()
LOOPBACK_ALLOWED = CallbackPolicy(parse_allow("127.0.0.0/8"))


@pytest.mark.parametrize("spelling", [
    "127.0.0.1", "2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0x7f.1", "::1", "[::1]",
    "::ffff:127.0.0.1", "[::ffff:7f00:1]",
])
def test_every_spelling_of_loopback_is_read_as_loopback(spelling: str) -> None:
    address = ip_literal(spelling)
    assert address is not None and (address.is_loopback or address.ipv4_mapped.is_loopback)
    assert DEFAULT.refusal(address) is not None


@pytest.mark.parametrize("name", ["localhost", "hooks.example.com", "0x7f000001.example", "127.0.0.1.nip"])
def test_names_are_not_literals(name: str) -> None:
    assert ip_literal(name) is None


@pytest.mark.parametrize("address", [
    "169.254.169.254",   # cloud metadata
    "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",  # private
    "100.64.0.1",        # carrier-grade NAT
    "0.0.0.0", "0.1.2.3",  # "this network" (0.0.0.0 reaches the local host)
    "255.255.255.255", "224.0.0.1", "239.1.1.1", "240.0.0.1",
    "192.0.0.8", "192.0.2.1", "198.18.0.1", "198.51.100.7", "203.0.113.9",
    "::", "fd00::1", "fd00:ec2::254", "fe80::1", "ff02::1", "fec0::1", "100::1",
    "2001:db8::1", "2001::1", "64:ff9b:1::1",
    "::ffff:10.0.0.1", "::ffff:169.254.169.254",  # IPv4-mapped
    "64:ff9b::a00:1",    # NAT64 of 10.0.0.1
    "2002:a00:1::1",     # 6to4 of 10.0.0.1
    "2002:7f00:1::1",    # 6to4 of 127.0.0.1
])
def test_internal_and_special_addresses_are_refused_by_default(address: str) -> None:
    assert DEFAULT.refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", [
    "93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:82b::200e",
    "::ffff:8.8.8.8", "64:ff9b::808:808",  # a public IPv4 address, mapped / through NAT64
    "2002:808:808::1",  # 6to4 of a public address
])
def test_public_unicast_addresses_are_allowed(address: str) -> None:
    assert DEFAULT.refusal(ipaddress.ip_address(address)) is None


def test_the_allow_list_opens_exactly_its_networks() -> None:
    policy = CallbackPolicy(parse_allow("127.0.0.0/8, 10.1.0.0/16,fd00:1::/64"))
    allowed = ["127.0.0.1", "127.9.9.9", "::ffff:127.0.0.1", "10.1.2.3", "fd00:1::5"]
    refused = ["::1", "10.2.0.1", "169.254.169.254", "fd00:2::5", "192.168.0.1"]
    assert [a for a in allowed if policy.refusal(ipaddress.ip_address(a)) is not None] == []
    assert [a for a in refused if policy.refusal(ipaddress.ip_address(a)) is None] == []


def test_the_allow_list_never_opens_unspecified_multicast_or_broadcast() -> None:
    policy = CallbackPolicy(parse_allow("0.0.0.0/0,::/0"))
    assert policy.refusal(ipaddress.ip_address("10.0.0.1")) is None
    for address in ("0.0.0.0", "255.255.255.255", "224.0.0.251", "::", "ff02::1", "::ffff:0.0.0.0"):
        assert policy.refusal(ipaddress.ip_address(address)) == "not a unicast address", address


@pytest.mark.parametrize("text", ["127.0.0.1/8", "10.0.0.0/33", "localhost", "10.0.0"])
def test_a_bad_allow_setting_says_which(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSGATE_CALLBACK_ALLOW", text)
    with pytest.raises(ValueError, match="SMSGATE_CALLBACK_ALLOW"):
        Settings.from_env()


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSGATE_CALLBACK_ALLOW", "127.0.0.0/8,::1")
    assert Settings.from_env().callback_allow == (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    monkeypatch.delenv("SMSGATE_CALLBACK_ALLOW")
    assert Settings.from_env().callback_allow == ()


def test_split_url() -> None:
    assert split_url("https://hooks.example.com/x?y#z") == ("hooks.example.com", 443)
    assert split_url("http://Hooks.Example.com:8080") == ("hooks.example.com", 8080)
    assert split_url("http://[::1]:81/") == ("::1", 81)
    for bad in ("http://h:99999/", "http://h:0/", "ftp://h/", "http:///x"):
        with pytest.raises(errors.TopicUrnInvalid):
            split_url(bad)


class Resolver:
    def __init__(self, answers: dict[str, list[str]] | None = None, error: BaseException | None = None,
                 delay: float = 0) -> None:
        self.answers, self.error, self.delay, self.asked = answers or {}, error, delay, []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        if host not in self.answers:
            raise NameNotFound(host)
        return self.answers[host]


async def test_a_literal_is_judged_without_asking_the_resolver() -> None:
    resolver = Resolver()
    guard = CallbackGuard(LOOPBACK_ALLOWED, resolver)
    assert await guard.addresses("2130706433", 80) == [ipaddress.ip_address("127.0.0.1")]
    with pytest.raises(errors.CallbackTargetRefused) as refused:
        await guard.addresses("169.254.169.254", 80)
    assert refused.value.code == "SMN.0005" and "169.254.169.254 is not a public address" in refused.value.detail
    assert resolver.asked == []


async def test_a_name_is_allowed_only_when_every_address_is() -> None:
    resolver = Resolver({
        "hooks.example.com": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "93.184.215.14"],
        "loopback.test": ["127.0.0.1"],
        "rebind.test": ["93.184.215.14", "127.0.0.1"],
        "v6.test": ["::1"],
        "scoped.test": ["fe80::1%2"],
    })
    guard = CallbackGuard(DEFAULT, resolver)
    assert [str(a) for a in await guard.addresses("hooks.example.com", 443)] == [
        "93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]  # each once, in order
    for host in ("loopback.test", "rebind.test", "v6.test", "scoped.test"):
        with pytest.raises(errors.CallbackTargetRefused) as refused:
            await guard.addresses(host, 443)
        # a client is told the same whatever the name resolves to (no map of internal DNS)
        assert refused.value.message == (
            f"Parameter: TopicUrn is invalid: {host} does not resolve to a public address; callbacks"
            " go to public addresses only, unless the service's operator allows more networks.")
        assert refused.value.detail.startswith(f"{host} (")  # the operator is told where


async def test_a_name_that_does_not_resolve_is_refused_and_a_resolver_failure_is_a_503() -> None:
    with pytest.raises(errors.CallbackTargetRefused) as refused:
        await CallbackGuard(DEFAULT, Resolver()).check_url("https://nowhere.test/cb")
    assert refused.value.detail == "nowhere.test does not resolve"
    with pytest.raises(errors.CallbackTargetRefused):
        await CallbackGuard(DEFAULT, Resolver({"empty.test": []})).check_url("https://empty.test/cb")
    for resolver in (Resolver(error=OSError("temporary failure")), Resolver({"slow.test": ["8.8.8.8"]}, delay=5)):
        with pytest.raises(errors.ServiceUnavailable) as unavailable:
            await CallbackGuard(DEFAULT, resolver, timeout=0.05).check_url("https://slow.test/cb")
        assert unavailable.value.status == 503


async def test_the_system_resolver_is_replaced_in_every_test(dns) -> None:
    """No test may look a name up for real: the autouse ``dns`` fixture answers instead."""
    dns.names["hooks.example.com"] = ["93.184.215.14"]
    guard = CallbackGuard(DEFAULT)  # the default resolver, as the service builds it
    assert [str(a) for a in await guard.addresses("hooks.example.com", 443)] == ["93.184.215.14"]
    with pytest.raises(errors.CallbackTargetRefused):
        await guard.addresses("localhost", 80)
    assert dns.asked == ["hooks.example.com", "localhost"]
