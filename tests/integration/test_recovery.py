"""At-least-once on the real broker: crashes, restarts and membership changes never
lose a tick or change a bar; outputs repeat at most for the uncommitted tail."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable

import pandas as pd
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from tests.integration.conftest import read_all, scrape, service_env, wait_for
from tests.integration.streams import (
    caught_up,
    closed_after,
    killed_mid_stream,
    published,
    running,
    send_tracked,
)
from tests.oracle import assert_bars_equal, offline_bars
from ticksmith.app import Service
from ticksmith.config import Settings
from ticksmith.produce.market import Market, symbol_names

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]
SettingsFactory = Callable[..., Awaitable[Settings]]
INTERVAL_NS = 1_000_000_000


async def start_service(settings: Settings, port: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ticksmith",
        "run",
        env=service_env(settings, port),
        stderr=asyncio.subprocess.DEVNULL,
    )


async def test_sigkill_mid_stream_then_restart_reflects_every_tick_exactly_once(
    settings_factory: SettingsFactory,
    producer: AIOKafkaProducer,
    admin: AIOKafkaAdminClient,
    unused_tcp_port_factory: Callable[[], int],
) -> None:
    settings = await settings_factory(partitions=3)
    k = settings.kafka
    market = Market(symbol_names(40), seed=11, spacing_ns=5_000_000)
    ports = unused_tcp_port_factory
    async with killed_mid_stream(settings, producer, admin, start_service, ports, market) as run:
        metrics = await scrape(run.port)
    sent, at_kill = run.sent, run.at_kill

    ticks = pd.concat(sent, ignore_index=True)
    expected = offline_bars(ticks, INTERVAL_NS)
    records = await read_all(k.bootstrap_servers, k.output_topic, len(expected))
    bars, duplicates = published(records)
    assert_bars_equal(bars.loc[1000], expected)
    assert duplicates <= closed_after(ticks, INTERVAL_NS, at_kill)
    assert metrics["ticksmith_ticks_replayed_total"] > 0
    assert metrics.get("ticksmith_partial_bars_dropped_total", 0) == 0
    assert metrics["ticksmith_recovery_seconds_count"] >= 1


async def test_members_joining_and_leaving_mid_stream_leave_every_bar_exact(
    settings_factory: SettingsFactory, producer: AIOKafkaProducer, admin: AIOKafkaAdminClient
) -> None:
    settings = await settings_factory(partitions=6)
    k = settings.kafka
    market = Market(symbol_names(60), seed=12, spacing_ns=4_000_000)
    sent = [await send_tracked(producer, k.ticks_topic, market.chunk(3_000))]

    async def stream(chunks: int) -> None:
        for _ in range(chunks):
            sent.append(await send_tracked(producer, k.ticks_topic, market.chunk(1_000)))

    async with contextlib.AsyncExitStack() as group, contextlib.AsyncExitStack() as leaver:
        a = await group.enter_async_context(running(settings))
        b = await leaver.enter_async_context(running(settings))
        await wait_for(lambda: live(a, b), "two members assigned")
        await stream(3)
        c = await group.enter_async_context(running(settings))  # a third joins mid-stream
        await wait_for(lambda: live(a, b, c), "three members assigned")
        await stream(3)
        await leaver.aclose()  # and one leaves mid-stream
        await stream(3)
        await wait_for(lambda: caught_up(admin, settings), "the group to catch up", 90)
        rebalances = [
            m.metrics.registry.get_sample_value("ticksmith_rebalances_total") or 0 for m in (a, c)
        ]

    ticks = pd.concat(sent, ignore_index=True)
    expected = offline_bars(ticks, INTERVAL_NS)
    bars, _ = published(await read_all(k.bootstrap_servers, k.output_topic, len(expected)))
    assert_bars_equal(bars.loc[1000], expected)
    assert rebalances[0] >= 2 and rebalances[1] >= 1  # the partitions really moved


async def live(*members: Service) -> bool:
    return all(m.member.assigned and not m.member.warming_up for m in members)
