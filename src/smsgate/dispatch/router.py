"""Which channel a number goes out on: the longest matching prefix wins, and a channel that is
down hands its traffic to the next one that matches (failover)."""

from __future__ import annotations

from collections.abc import Sequence

from smsgate.dispatch.channel import Channel

# Mainland mobile prefixes by carrier (MIIT allocations), usable by name in channel configs.
CARRIER_PREFIXES: dict[str, tuple[str, ...]] = {
    "cn-mobile": ("134", "135", "136", "137", "138", "139", "147", "148", "150", "151", "152",
                  "157", "158", "159", "172", "178", "182", "183", "184", "187", "188", "195",
                  "197", "198"),
    "cn-unicom": ("130", "131", "132", "145", "146", "155", "156", "166", "167", "171", "175",
                  "176", "185", "186", "196"),
    "cn-telecom": ("133", "149", "153", "173", "174", "177", "180", "181", "189", "190", "191",
                   "193", "199"),
}


def expand(prefixes: Sequence[str]) -> tuple[str, ...]:
    """``cn-mobile`` → ``+86134``…; ``+44`` stays; ``*`` matches every number."""
    out: list[str] = []
    for prefix in prefixes:
        if prefix in CARRIER_PREFIXES:
            out += [f"+86{p}" for p in CARRIER_PREFIXES[prefix]]
        elif prefix == "*":
            out.append("+")
        else:
            out.append(prefix if prefix.startswith("+") else f"+{prefix}")
    return tuple(out)


class Router:
    def __init__(self, routes: Sequence[tuple[Channel, Sequence[str]]],
                 elsewhere: Sequence[Sequence[str]] = ()) -> None:
        """``elsewhere``: prefixes of channels whose binds other workers hold."""
        self._routes = [(channel, expand(prefixes)) for channel, prefixes in routes]
        self.channels = [channel for channel, _ in routes]
        self._elsewhere = tuple(p for prefixes in elsewhere for p in expand(prefixes))
        self._turn = 0

    def add(self, channel: Channel, prefixes: Sequence[str]) -> None:
        self._routes.append((channel, expand(prefixes)))
        self.channels.append(channel)

    def remove(self, channel: Channel) -> None:
        self._routes = [(c, p) for c, p in self._routes if c is not channel]
        self.channels = [c for c in self.channels if c is not channel]

    def set_elsewhere(self, elsewhere: Sequence[Sequence[str]]) -> None:
        self._elsewhere = tuple(p for prefixes in elsewhere for p in expand(prefixes))

    def elsewhere(self, e164: str) -> bool:
        """Whether a channel bound by another worker serves this number."""
        return any(e164.startswith(p) for p in self._elsewhere)

    def candidates(self, e164: str) -> list[Channel]:
        """Channels that serve this number, best (longest prefix) first."""
        scored = []
        for order, (channel, prefixes) in enumerate(self._routes):
            best = max((len(p) for p in prefixes if e164.startswith(p)), default=0)
            if best:
                scored.append((-best, order, channel))
        return [channel for _, _, channel in sorted(scored, key=lambda s: (s[0], s[1]))]

    def pick(self, e164: str) -> Channel | None:
        """The best channel that is up, or None when every candidate is down.  The binds of one
        link (channels of one name) take turns, so that each carries its share; another link
        serving the same numbers stays the failover."""
        up = [c for c in self.candidates(e164) if c.up]
        if not up:
            return None
        binds = [c for c in up if c.name == up[0].name]
        if len(binds) == 1:
            return binds[0]
        self._turn += 1
        return binds[self._turn % len(binds)]
