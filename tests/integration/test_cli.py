"""`ticksmith` as a user starts it: a real process against the real broker."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
from aiokafka import AIOKafkaProducer
from bench._service import free_ports

from tests.integration.conftest import run_until_consumed, scrape, service_env, wait_for
from ticksmith.config import Settings
from ticksmith.produce.market import Market, symbol_names
from ticksmith.produce.writer import encode_chunk, send_all

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_run_stops_cleanly_on_signal(
    sig: signal.Signals,
    settings_factory: Callable[..., Awaitable[Settings]],
    producer: AIOKafkaProducer,
    unused_tcp_port: int,
) -> None:
    settings = await settings_factory(partitions=2)
    ticks = Market(symbol_names(5), seed=1).chunk(2_000)
    await send_all(producer, settings.kafka.ticks_topic, encode_chunk(ticks))
    code, stderr = await run_until_consumed(
        [sys.executable, "-m", "ticksmith", "run"],
        service_env(settings, unused_tcp_port),
        unused_tcp_port,
        len(ticks),
        sig=sig,
    )
    assert code == 0, stderr[-3000:]
    assert "stopped cleanly" in stderr


async def two_workers(settings: Settings, port: int, stderr: Any) -> asyncio.subprocess.Process:
    """`ticksmith run --workers 2`; worker i serves HTTP on `port` + i."""
    command = [sys.executable, "-m", "ticksmith", "run", "--workers", "2"]
    env = service_env(settings, port)
    return await asyncio.create_subprocess_exec(*command, env=env, stderr=stderr)


async def test_two_workers_share_the_group_and_stop_together(
    settings_factory: Callable[..., Awaitable[Settings]],
    producer: AIOKafkaProducer,
    tmp_path: Path,
) -> None:
    settings = await settings_factory(partitions=4)
    ticks = Market(symbol_names(20), seed=4).chunk(4_000)
    base = free_ports(2)  # worker i listens on http.port + i
    ports = (base, base + 1)
    log = tmp_path / "workers.log"
    with log.open("wb") as stderr:  # a file, not a pipe nobody reads while waiting
        proc = await two_workers(settings, ports[0], stderr)

    async def consumed() -> list[float]:
        out = []
        for port in ports:
            with contextlib.suppress(aiohttp.ClientError):
                out.append((await scrape(port)).get("ticksmith_ticks_consumed_total", 0.0))
        return out

    async def all_consumed_by_both() -> bool:
        counts = await consumed()
        return len(counts) == 2 and min(counts) > 0 and sum(counts) == len(ticks)

    async def both_ready() -> bool:
        async with aiohttp.ClientSession() as http:
            for port in ports:
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                        if response.status != 200:
                            return False
                        continue
                return False
        return True

    try:
        await wait_for(both_ready, "both workers assigned and warmed up")
        await send_all(producer, settings.kafka.ticks_topic, encode_chunk(ticks))
        await wait_for(all_consumed_by_both, "two workers to split the ticks")
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{log.read_text(errors='replace')[-3000:]}") from e
    finally:
        if proc.returncode is None:
            proc.kill()
    err = log.read_text(errors="replace")
    assert proc.returncode == 0, err[-2000:]
    assert err.count("stopped cleanly") == 2


async def test_workers_stop_by_themselves_when_their_supervisor_is_killed(
    settings_factory: Callable[..., Awaitable[Settings]], unused_tcp_port: int
) -> None:
    settings = await settings_factory(partitions=2)
    proc = await two_workers(settings, unused_tcp_port, asyncio.subprocess.DEVNULL)
    supervisor = psutil.Process(proc.pid)

    async def both_spawned() -> bool:
        return len(supervisor.children()) == 2

    await wait_for(both_spawned, "two worker processes")
    workers = supervisor.children()
    proc.send_signal(signal.SIGKILL)
    await proc.wait()

    async def all_gone() -> bool:
        return not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)

    try:
        await wait_for(all_gone, "orphaned workers to stop", timeout_s=30)
    finally:
        for w in workers:
            with contextlib.suppress(psutil.NoSuchProcess):
                w.kill()
