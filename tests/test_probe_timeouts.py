"""A probe's own timeout measures the server, not this process: time the event loop could not run (our own
synchronous work, a machine busy with other processes) stretches it; a server that stays silent still ends it."""

from __future__ import annotations

import asyncio
import time

import pytest

from hfdiag.probes.runner import LoopLag, _within


def test_time_the_loop_was_held_does_not_count_against_a_probe():
    async def probe() -> None:
        await asyncio.sleep(0)  # our own work below runs first
        await asyncio.sleep(0.1)  # then the answer takes 0.1 s: 1.1 s in, past the probe's 0.5 s

    async def main() -> float:
        lag = LoopLag()
        loop = asyncio.get_running_loop()
        loop.call_soon(time.sleep, 1.0)  # stands for loading the rules: synchronous work that holds the loop
        try:
            await _within(probe(), 0.5, lag)
        finally:
            lag.stop()
        return lag.total

    assert asyncio.run(main()) >= 0.9


def test_a_silent_server_still_ends_the_probe():
    async def main() -> None:
        lag = LoopLag()
        try:
            await _within(asyncio.Event().wait(), 0.2, lag)
        finally:
            lag.stop()

    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(main())
