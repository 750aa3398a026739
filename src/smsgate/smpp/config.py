"""Channel configuration: a TOML or JSON file (``--channels FILE`` or ``SMSGATE_CHANNELS``).

```toml
[[channel]]
name = "cmcc"
host = "127.0.0.1"
port = 2775
system_id = "acme"
password = "secret"
source_addr = "10690001"
prefixes = ["cn-mobile"]        # or "+86138", "44", "*"; see dispatch.router
window = 64
tps = 200
bind = "transceiver"            # or "tx+rx"
receipt_tz = "Asia/Shanghai"    # the zone the SMSC writes receipt dates in
receipt_id_format = "auto"      # or "hex", "decimal", "string": see domain.carrier_ids
```

With no file the service runs its built-in SMSC simulator as the only channel (``*``).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from smsgate.domain.carrier_ids import FORMATS

__all__ = ["ChannelConfigError", "SmppConfig", "load_channels"]


@dataclass(frozen=True, slots=True)
class SmppConfig:
    """One carrier link.  Times are seconds.

    ``source_ton``/``source_npi`` None means "by the address": letters → alphanumeric (5/0),
    a leading '+' → international (1/1), digits → unknown/ISDN (0/1), which is what SMSCs
    expect of service numbers such as 106xxxx.  ``receipt_tz`` is the zone the SMSC writes
    receipt dates in (SMPP gives none; Chinese carriers use local time, UTC+8).
    ``receipt_id_format`` is how the carrier spells message ids (see
    :mod:`smsgate.domain.carrier_ids`): "auto", "hex", "decimal" or "string".
    """

    name: str
    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    source_addr: str = ""  # our sender; extend_src_id digits are appended (source_address())
    source_ton: int | None = None
    source_npi: int | None = None
    window: int = 64  # outstanding submit_sm at most
    tps: float = 0  # per-connection submits per second, 0 = unlimited
    response_timeout: float = 10.0
    enquire_link_interval: float = 30.0
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    throttle_backoff: float = 1.0  # pause after ESME_RTHROTTLED / ESME_RMSGQFUL, doubling ...
    throttle_backoff_max: float = 30.0  # ... while they continue, up to this
    bind: str = "transceiver"  # or "tx+rx": a transmitter for submits, a receiver for deliver_sm
    receipt_tz: str = "Asia/Shanghai"
    receipt_id_format: str = "auto"
    close_timeout: float = 2.0  # how long close() waits for unbind_resp
    binds: int = 1  # binds the whole cluster keeps to this link, each owned by one worker
    cluster_tps: float = 0  # submits/s over all its binds in all workers (Redis), 0 = unlimited

    def __post_init__(self) -> None:
        """Fail at start-up, not at the first bind, on what the SMSC could never accept."""
        if self.bind not in ("transceiver", "tx+rx"):
            raise ValueError(f"bind must be 'transceiver' or 'tx+rx', not {self.bind!r}")
        for name, limit in (("system_id", 15), ("password", 8), ("system_type", 12)):
            if len(getattr(self, name)) > limit:
                raise ValueError(f"{name} is longer than SMPP's {limit} characters")
        if self.window < 1 or self.response_timeout <= 0 or self.enquire_link_interval <= 0:
            raise ValueError("window, response_timeout and enquire_link_interval must be positive")
        if self.receipt_id_format not in FORMATS:
            raise ValueError(f"receipt_id_format must be one of {', '.join(FORMATS)},"
                             f" not {self.receipt_id_format!r}")
        try:
            ZoneInfo(self.receipt_tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(f"receipt_tz {self.receipt_tz!r} is not a time zone name (such as"
                             " 'Asia/Shanghai' or 'UTC')") from None



class ChannelConfigError(ValueError):
    pass


def load_channels(path: Path) -> list[tuple[SmppConfig, list[str]]]:
    """(session settings, routing prefixes) of every configured channel."""
    try:
        text = path.read_text("utf-8")
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as exc:
        raise ChannelConfigError(f"cannot read channels from {path}: {exc}") from exc
    entries = data if isinstance(data, list) else data.get("channel", [])
    if not entries:
        raise ChannelConfigError(f"{path} defines no [[channel]]")
    return [_channel(entry, path) for entry in entries]


def _channel(entry: dict, path: Path) -> tuple[SmppConfig, list[str]]:
    entry = dict(entry)
    prefixes = entry.pop("prefixes", ["*"])
    known = {f.name for f in fields(SmppConfig)}
    unknown = set(entry) - known
    if unknown:
        raise ChannelConfigError(f"{path}: unknown channel settings {sorted(unknown)}")
    try:
        return SmppConfig(**entry), list(prefixes)
    except (TypeError, ValueError) as exc:
        name = entry.get("name", "?")
        raise ChannelConfigError(f"{path}: channel {name!r}: {exc}") from exc
