"""SIGUSR1 logs where every asyncio task waits, down its awaits, and the member keeps
running."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import pytest

from ticksmith.app import stop_on_signals


async def test_sigusr1_logs_each_task_with_the_line_it_waits_at(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def waiting_for_an_ack(never: asyncio.Event) -> None:
        await commit(never)

    async def commit(never: asyncio.Event) -> None:
        await never.wait()

    stop, never = asyncio.Event(), asyncio.Event()
    stop_on_signals(stop)
    task = asyncio.create_task(waiting_for_an_ack(never), name="settle-7")
    await asyncio.sleep(0)  # the task is suspended in never.wait()
    try:
        with caplog.at_level(logging.WARNING, logger="ticksmith.app"):
            os.kill(os.getpid(), signal.SIGUSR1)
            for _ in range(200):  # the handler runs on the loop: wait for its dump, 2 s at most
                if any("settle-7" in r.getMessage() for r in caplog.records):
                    break
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
            asyncio.get_running_loop().remove_signal_handler(sig)
    dumps = [r.getMessage() for r in caplog.records if "settle-7" in r.getMessage()]
    assert len(dumps) == 1, caplog.text
    chain = dumps[0].splitlines()[1:]  # outermost first, down to the future
    assert [line.rsplit(" in ", 1)[-1] for line in chain[:3]] == [
        "test_sigusr1_logs_each_task_with_the_line_it_waits_at.<locals>.waiting_for_an_ack",
        "test_sigusr1_logs_each_task_with_the_line_it_waits_at.<locals>.commit",
        "Event.wait",
    ]
    assert chain[-1].startswith("  awaiting ")  # the future itself
    assert not stop.is_set()  # SIGUSR1 does not stop the service
