"""The stall watch names the code that holds the event loop."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from ticksmith.monitor.stalls import watch_stalls


def hold_the_loop(seconds: float) -> None:
    time.sleep(seconds)  # a blocking call on the loop, as a bug would make


async def test_a_long_hold_is_logged_once_with_the_stack_that_holds_the_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stalls: list[None] = []
    with caplog.at_level(logging.WARNING, logger="ticksmith.monitor.stalls"):
        watch = asyncio.create_task(watch_stalls(0.1, lambda: stalls.append(None)))
        await asyncio.sleep(0.1)  # the heartbeat runs; short holds are not stalls
        hold_the_loop(0.01)
        await asyncio.sleep(0.1)
        assert stalls == []
        hold_the_loop(0.5)
        await asyncio.sleep(0.1)
        watch.cancel()
    assert len(stalls) == 1
    (record,) = caplog.records
    assert "event loop held for over" in record.getMessage()
    assert "in hold_the_loop" in record.getMessage()
    assert "time.sleep(seconds)" in record.getMessage()


async def test_the_watcher_thread_ends_with_the_task() -> None:
    watch = asyncio.create_task(watch_stalls(0.05, lambda: None))
    await asyncio.sleep(0.05)
    watch.cancel()
    await asyncio.gather(watch, return_exceptions=True)
    deadline = time.monotonic() + 2
    while any(t.name == "ticksmith-stall-watch" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the watcher thread is still running"
        await asyncio.sleep(0.02)
