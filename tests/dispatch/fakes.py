"""An in-memory channel for dispatcher tests: it records parts, can refuse or throttle them,
and sends receipts when told to."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable

from smsgate.domain.channel import ChannelError, Inbound, Submit


class FakeChannel:
    def __init__(self, name: str = "fake", *, up: bool = True, id_format: str = "auto",
                 ids: Iterable[str] | None = None) -> None:
        self.name = name
        self.id_format = id_format
        self.is_up = up
        self.sent: list[tuple[str, Submit]] = []  # (carrier id, part)
        self.throttle_next = 0  # refuse this many submits as throttled
        self.refuse_next = 0  # refuse this many submits for good
        # the ids it answers with: upper-case hex, as some SMSCs answer, unless given
        self._ids = iter(ids) if ids is not None else (f"{n:X}" for n in itertools.count(0x1A2B3C))
        self._handler: Callable[[Inbound], None] | None = None

    @property
    def up(self) -> bool:
        return self.is_up

    async def submit(self, submit: Submit) -> str:
        if self.throttle_next:
            self.throttle_next -= 1
            raise ChannelError("ESME_RTHROTTLED", transient=True, status=0x58)
        if self.refuse_next:
            self.refuse_next -= 1
            raise ChannelError("ESME_RINVDSTADR", transient=False, status=0x0B)
        carrier_id = next(self._ids)
        self.sent.append((carrier_id, submit))
        return carrier_id

    def on_inbound(self, handler: Callable[[Inbound], None]) -> None:
        self._handler = handler

    def source_address(self, extend_src_id: str | None) -> str:
        return "10690000" + (extend_src_id or "")

    def receipt(self, carrier_id: str, stat: str, done_at: int = 1_700_000_000_000) -> None:
        """The SMSC reports on a part (the id spelt as the carrier likes)."""
        assert self._handler is not None
        self._handler(Inbound(self.name, "", "", f"id:{carrier_id} stat:{stat}",
                              receipt_id=carrier_id, id_format=self.id_format, stat=stat, err="000",
                              done_at=done_at))

    def mo(self, source: str, text: str) -> None:
        assert self._handler is not None
        self._handler(Inbound(self.name, source, "10690000", text))

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass
