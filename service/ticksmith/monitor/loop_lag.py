"""Event-loop lag: how late the loop runs a timer, the sign of a blocking call."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import Histogram


async def watch_loop_lag(histogram: Histogram, period_s: float = 0.1) -> None:
    """Sleep `period_s` forever, observing how much later than asked each wake-up is."""
    while True:
        asked = time.perf_counter()
        await asyncio.sleep(period_s)
        histogram.observe(max(0.0, time.perf_counter() - asked - period_s))
