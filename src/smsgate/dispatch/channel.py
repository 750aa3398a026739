"""What the dispatcher needs of a carrier link, whatever speaks the protocol behind it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Submit:
    """One SMS part to hand to the SMSC."""

    source: str
    destination: str  # E.164 without '+', as SMSCs expect with TON international
    short_message: bytes
    esm_class: int
    data_coding: int


class ChannelError(Exception):
    """The SMSC did not take a part.  ``transient``: try again later (throttled, queue full,
    link down, timeout); otherwise the part is refused for good."""

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


@dataclass(frozen=True, slots=True)
class Inbound:
    """A deliver_sm the SMSC sent us: a delivery receipt or a mobile-originated reply."""

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


class Channel(Protocol):
    name: str

    @property
    def up(self) -> bool: ...

    async def submit(self, submit: Submit) -> str:
        """The carrier's message id for the part (from submit_sm_resp); raises ChannelError."""
        ...

    def on_inbound(self, handler: Callable[[Inbound], Awaitable[object] | None]) -> None:
        """The handler may return an awaitable: the channel then acknowledges the inbound
        message only once it resolves (stored), and asks for it again if it fails."""
        ...

    def source_address(self, extend_src_id: str | None) -> str:
        """The sender address: the channel's number, extended by extend_src_id."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...
