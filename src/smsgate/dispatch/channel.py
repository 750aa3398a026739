"""What the dispatcher needs of a carrier link, whatever speaks the protocol behind it.

The worker wires channels in (SMPP's today); what passes through them is
:mod:`smsgate.domain.channel`, in no protocol's terms, so a second protocol plugs in here
without the dispatcher knowing it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from smsgate.domain.channel import Inbound, Submit


class Channel(Protocol):
    name: str

    @property
    def up(self) -> bool: ...

    async def submit(self, submit: Submit) -> str:
        """The carrier's message id for the part; raises ``domain.channel.ChannelError``."""
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
