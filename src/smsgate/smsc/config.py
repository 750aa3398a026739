"""The simulator's knobs, as one frozen value built once (CLI flags, tests, ``smsgate serve``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["SimConfig"]


@dataclass(frozen=True, slots=True)
class SimConfig:
    """How the simulated SMSC behaves.  Every fault knob defaults to "never", so the default is
    a well-behaved carrier that a fresh install can deliver through end to end.

    ``throttle_every`` and ``drop_after`` count per connection, so a gateway with several binds
    sees each one throttled and cut on the same schedule, and a reconnect starts afresh.
    """

    host: str = "127.0.0.1"
    port: int = 2775  # 0 = any free port; Simulator.port tells which
    system_id: str = "smsgate"  # ours, sent in bind_*_resp; also the only id accepted with a password
    password: str = ""  # empty: accept any system_id/password
    deliver_ratio: float = 0.97  # share of DELIVRD receipts; see smsc.outcome for the failure mix
    receipt_delay_ms: int = 200  # per message, jittered by ±20 %
    latency_ms: int = 0  # delay before each submit_sm_resp
    throttle_every: int = 0  # every Nth submit_sm on a connection gets ESME_RTHROTTLED
    drop_after: int = 0  # close a connection right after answering its Nth accepted submit_sm
    record: Path | None = None  # JSON Lines, one line per accepted submit_sm
    seed: int | None = None  # deterministic outcomes and message ids, for tests
    pdu_timeout: float = 5.0  # seconds a PDU may take to arrive whole; then answer and close
    remember: int = 100_000  # recent messages whose state query_sm/cancel_sm can reach

    def __post_init__(self) -> None:
        if not 0.0 <= self.deliver_ratio <= 1.0:
            raise ValueError(f"deliver_ratio must be within 0..1, not {self.deliver_ratio}")
        for name in ("port", "receipt_delay_ms", "latency_ms", "throttle_every", "drop_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if not self.pdu_timeout > 0:
            raise ValueError(f"pdu_timeout must be positive, not {self.pdu_timeout}")
        if self.remember < 1:
            raise ValueError(f"remember must be at least 1, not {self.remember}")
        if len(self.system_id) > 15:
            raise ValueError("system_id is at most 15 characters (SMPP 3.4 §4.1)")
