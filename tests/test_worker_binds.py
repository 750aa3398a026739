"""A worker's bind slots when its store hangs: it unbinds while its lease still holds, whatever
write the store hangs on, so that no slot ever has two binds (the standby takes the slot once
the lease has lapsed)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from smsgate.auth.secrets import box_for_store
from smsgate.config import Settings
from smsgate.metrics import Metrics
from smsgate.smsc.config import SimConfig
from smsgate.smsc.simulator import Simulator
from smsgate.store.gate import StoreGate
from smsgate.worker import Worker
from tests.wait import wait_until_async

LEASE_MS = 3_000  # renewed every 0.6 s, each renewal allowed 0.6 s


async def test_a_store_that_hangs_after_a_renewal_still_unbinds_before_the_lease_lapses(
        tmp_path: Path) -> None:
    """The store answers a bind renewal and then hangs on the very next write (the round's
    heartbeat): the worker must still unbind before the lease it just renewed runs out.  It
    used to wait on that write for ever, keeping its bind while another worker took the slot."""
    async with Simulator(SimConfig(port=0)) as sim:
        channels = tmp_path / "channels.toml"
        channels.write_text(f'[[channel]]\nname = "sim"\nhost = "127.0.0.1"\nport = {sim.port}\n'
                            'system_id = "smsgate"\npassword = ""\nsource_addr = "10690000"\nbinds = 1\n')
        settings = Settings(data_dir=tmp_path / "data", channels_file=channels, bind_lease_ms=LEASE_MS)
        state = StoreGate(settings)
        worker = Worker(state, box_for_store(settings, []), Metrics(http=False))
        real_write, renewed_at = state.write, []
        hang_next, hang, back = asyncio.Event(), asyncio.Event(), asyncio.Event()

        async def write(fn, *args):
            if hang.is_set():
                await back.wait()  # the store does not answer until it is back
            result = await real_write(fn, *args)
            if fn == worker._leases.renew and hang_next.is_set() and not hang.is_set():
                renewed_at.append(time.monotonic())
                hang.set()  # this renewal was answered; from the next write on, the store hangs
            return result

        state.write = write  # type: ignore[method-assign]
        await worker.start()
        try:
            await wait_until_async(lambda: sim.session_count == 1, 10, "the worker binds")
            hang_next.set()
            await wait_until_async(lambda: renewed_at, 10, "a renewal is answered, then the store hangs")
            await wait_until_async(lambda: sim.session_count == 0, 10, "the worker unbinds")
            assert time.monotonic() - renewed_at[0] < LEASE_MS / 1000  # before the lease could lapse
        finally:
            back.set()
            await worker.close()
            state.close()
