"""Helpers for tests that stream ticks through the real broker and check the output."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import msgspec
import pandas as pd
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient
from bench._broker import end_offsets
from prometheus_client import CollectorRegistry

from tests.integration.conftest import committed_offsets, wait_for
from ticksmith import output
from ticksmith.app import Service, lifespan
from ticksmith.config import Settings
from ticksmith.produce.market import Market
from ticksmith.produce.writer import encode_chunk


async def send_tracked(producer: AIOKafkaProducer, topic: str, ticks: pd.DataFrame) -> pd.DataFrame:
    """Produce one JSON record per tick; return the ticks with their partition and offset."""
    futures = [await producer.send(topic, value=v, key=k) for k, v in encode_chunk(ticks)]
    meta = await asyncio.gather(*futures)
    return ticks.assign(partition=[m.partition for m in meta], offset=[m.offset for m in meta])


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Service]:
    """An in-process service member, stopped cleanly (SIGTERM path) on exit."""
    stop = asyncio.Event()
    async with lifespan(settings, CollectorRegistry()) as service:
        task = asyncio.create_task(service.run(stop))
        try:
            yield service
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)


async def caught_up(admin: AIOKafkaAdminClient, settings: Settings) -> bool:
    k = settings.kafka
    ends = await end_offsets(k.bootstrap_servers, k.ticks_topic, k.topic_partitions)
    committed = await committed_offsets(admin, k.group_id)
    return committed == {p: end for p, end in ends.items() if end > 0}


def published(records: list[ConsumerRecord[bytes, bytes]]) -> tuple[pd.DataFrame, int]:
    """Output records as a frame indexed (interval_ms, symbol, start_ns), one row per
    bar (so `.loc[1000]` is indexed like the oracle), and how many records were
    duplicates. Every duplicate must be byte-identical."""
    by_bar: dict[tuple[int, str, int], bytes] = {}
    duplicates = 0
    for r in records:
        bar = output.decode(r.value)
        seen = by_bar.setdefault((bar.interval_ms, bar.symbol, bar.start_ns), r.value)
        assert seen == r.value, f"two different records for {bar.symbol} at {bar.start_ns}"
        duplicates += seen is not r.value
    rows = [msgspec.structs.asdict(output.decode(v)) for v in by_bar.values()]
    frame = pd.DataFrame(rows).set_index(["interval_ms", "symbol", "start_ns"]).sort_index()
    frame["vwap"] = frame["vwap"].astype(float)
    return frame, duplicates


def closed_after(ticks: pd.DataFrame, interval_ns: int, committed: dict[int, int]) -> int:
    """How many bars were closed by a tick at or past the committed offset of its partition."""
    t = ticks.assign(start_ns=ticks["ts"] - ticks["ts"] % interval_ns)
    first = t.groupby(["symbol", "start_ns"], sort=True)[["partition", "offset"]].first()
    closer = first.groupby(level="symbol").shift(-1).dropna().astype("int64")
    floor = closer["partition"].map(lambda p: committed.get(p, 0))
    return int((closer["offset"] >= floor).sum())


Start = Callable[[Settings, int], Awaitable[asyncio.subprocess.Process]]


@dataclass
class Restarted:
    sent: list[pd.DataFrame]  # every tick sent, tracked (send_tracked)
    at_kill: dict[int, int]  # the offsets committed when the first member died
    port: int  # the second member's HTTP port


@asynccontextmanager
async def killed_mid_stream(
    settings: Settings,
    producer: AIOKafkaProducer,
    admin: AIOKafkaAdminClient,
    start: Start,
    ports: Callable[[], int],
    market: Market,
) -> AsyncIterator[Restarted]:
    """A member (`start`ed) takes ticks while more keep coming, is SIGKILLed after its
    first commit, more ticks are sent, and a second member starts; yields once it has
    caught up, then stops it (SIGTERM) and checks it exited 0."""
    k = settings.kafka
    sent = [await send_tracked(producer, k.ticks_topic, market.chunk(4_000))]
    first = await start(settings, ports())

    async def some_committed() -> bool:
        return bool(await committed_offsets(admin, k.group_id))

    await wait_for(some_committed, "a first commit")
    for _ in range(4):  # keep streaming while it runs, then kill it mid-stream
        sent.append(await send_tracked(producer, k.ticks_topic, market.chunk(2_000)))
    first.send_signal(signal.SIGKILL)
    await first.wait()
    at_kill = await committed_offsets(admin, k.group_id)
    sent.append(await send_tracked(producer, k.ticks_topic, market.chunk(4_000)))
    second = await start(settings, port := ports())
    try:
        await wait_for(lambda: caught_up(admin, settings), "the restarted member to catch up", 90)
        yield Restarted(sent, at_kill, port)
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 30)
    assert second.returncode == 0
