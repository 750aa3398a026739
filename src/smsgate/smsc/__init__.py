"""The built-in SMSC simulator: an asyncio SMPP 3.4 server playing the carrier.

It is the default channel of ``smsgate serve`` when no carrier is configured (so a fresh install
delivers end to end), the far side of the SMPP tests, and a load-test target
(``smsgate smsc-sim``).  It behaves like the carriers that caused trouble elsewhere: ids spelt
differently in responses and receipts, one receipt per part of a long message, optional
throttling, latency and dropped links.

Modules: ``config`` (SimConfig), ``simulator`` (policy: ids, outcomes, receipts, record),
``session`` (one connection: framing and bind state), ``messages`` (receipt/MO PDUs),
``outcome`` (the outcome mix and the id spellings), ``timers``, ``record``, ``control`` (the
control port) and ``cli``.
"""

from smsgate.smsc.config import SimConfig
from smsgate.smsc.simulator import Simulator

__all__ = ["SimConfig", "Simulator"]
