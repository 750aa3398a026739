"""What passes between the dispatcher and a carrier channel, in no protocol's terms.

The dispatcher hands a channel one :class:`Submit` per part (the part's text, its encoding,
its place in the message); the channel builds its own wire fields from it (SMPP: data_coding,
esm_class and the concatenation UDH; CMPP would build its own), answers with the carrier's id or
a :class:`ChannelError`, and hands back what the carrier sends as :class:`Inbound`.
"""

from __future__ import annotations

from typing import NamedTuple


class Submit(NamedTuple):  # a tuple: built per part, 3x faster than a frozen dataclass
    """One part of a message to hand to the carrier, split by :func:`domain.segments.segment`
    (the split ``fee_num`` counts, so what is billed is what is sent)."""

    source: str  # the sender address, as the channel's source_address() gave it
    destination: str  # E.164 without '+', as SMSCs expect with TON international
    text: str  # this part's text
    encoding: str  # "gsm7" or "ucs2", for the whole message
    index: int  # 1-based
    total: int  # parts in the message
    reference: int  # ties the parts together on the handset (the same on every retry)


class ChannelError(Exception):
    """The carrier did not take a part.  ``transient``: try again later (throttled, queue
    full, link down, timeout); otherwise the part is refused for good."""

    def __init__(self, reason: str, *, transient: bool, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.status = status


class ChannelStopping(ChannelError):
    """The channel is stopping (the worker shuts down) and this part was not sent: the
    message goes back to the queue for another worker, which is not an attempt."""

    def __init__(self) -> None:
        super().__init__("the channel is stopping", transient=True)


class Inbound(NamedTuple):  # a tuple: built per part, 3x faster than a frozen dataclass
    """What the carrier sent us: a delivery receipt or a mobile-originated reply."""

    channel: str
    source: str  # the handset for an MO
    destination: str
    text: str
    receipt_id: str = ""  # receipts: the id as the carrier spelt it ...
    id_format: str = "auto"  # ... and how that carrier spells ids (domain.carrier_ids)
    stat: str | None = None
    err: str | None = None
    done_at: int | None = None

    @property
    def is_receipt(self) -> bool:
        return self.stat is not None
