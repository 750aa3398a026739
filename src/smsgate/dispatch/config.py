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
from dataclasses import fields
from pathlib import Path

from smsgate.smpp.session import SmppConfig


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
