"""The benchmarks' Kafka: a local broker of their own, topics, and pre-filled tick topics.

The broker is the project's own script (deploy/kafka/broker.sh) on a port the
tests do not use, started here when it is not running and stopped at the end
only if it was started here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from ticksmith.produce.market import Market, symbol_names
from ticksmith.produce.writer import Format, encode_chunk, send_all

ROOT = Path(__file__).resolve().parents[1]
BROKER = ROOT / "deploy" / "kafka" / "broker.sh"
PORT = int(os.environ.get("BENCH_KAFKA_PORT", "19392"))
FETCH_PARTITION_BYTES = 4 * 1024 * 1024  # the service's consumer's, so only the work differs
FILL_CHUNK_TICKS = 1_000_000  # large, so binary batches are mostly full
SPACING_NS = 10_000  # 5M ticks span 50 s of event time: well inside the 1 h future skew


def _broker(command: str, port: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KAFKA_PORT": str(port)}
    return subprocess.run([str(BROKER), command], env=env, text=True, capture_output=True)


def broker_pid(port: int = PORT) -> int | None:
    """The broker's process id, for its CPU time (None if it is not running)."""
    got = _broker("pid", port)
    return int(got.stdout.strip()) if got.returncode == 0 and got.stdout.strip() else None


@contextlib.contextmanager
def local_broker(port: int = PORT) -> Iterator[str]:
    """Yield the bootstrap address of a running broker on `port`."""
    was_running = _broker("status", port).returncode == 0
    if not was_running:
        started = _broker("start", port)
        if started.returncode != 0:
            raise RuntimeError(f"local broker did not start on {port}:\n{started.stderr}")
    try:
        yield f"localhost:{port}"
    finally:
        if not was_running:
            _broker("stop", port)


class Topics:
    """The topics of one benchmark run, deleted when it ends: a run writes gigabytes."""

    def __init__(self, bootstrap: str) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._names: list[str] = []

    async def __aenter__(self) -> Topics:
        await self._admin.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        try:
            if self._names:
                await self._admin.delete_topics(self._names)
        finally:
            await self._admin.close()

    async def create(
        self, prefix: str, partitions: int, configs: dict[str, str] | None = None
    ) -> str:
        """A new topic with a unique name (and topic `configs`, e.g.
        ``{"message.timestamp.type": "LogAppendTime"}``), returned once every
        partition has a leader."""
        name = f"bench-{prefix}-{uuid.uuid4().hex[:8]}"
        topic = NewTopic(name, partitions, replication_factor=1, topic_configs=configs)
        await self._admin.create_topics([topic])
        self._names.append(name)
        deadline = time.monotonic() + 30
        while not await has_leaders(self._admin, name, partitions):
            if time.monotonic() > deadline:
                raise RuntimeError(f"topic {name} has no leaders after 30 s")
            await asyncio.sleep(0.05)
        return name


async def has_leaders(admin: AIOKafkaAdminClient, name: str, partitions: int) -> bool:
    """Whether topic `name` has all its `partitions`, each with a leader (the tests' too)."""
    described = await admin.describe_topics([name])
    parts = described[0].get("partitions", []) if described else []
    return len(parts) == partitions and all(p.get("leader", -1) >= 0 for p in parts)


@dataclass(frozen=True)
class Filled:
    """A pre-filled ticks topic: what a drain of it must reach."""

    topic: str
    partitions: int
    fmt: Format
    ticks: int
    records: int
    batch_size: int  # ticks per record

    @property
    def ticks_per_record(self) -> int:
        return self.batch_size if self.fmt == "binary-batch" else 1


async def fill(
    bootstrap: str,
    topic: str,
    partitions: int,
    fmt: Format,
    ticks: int,
    *,
    symbols: int,
    batch_size: int = 100,
) -> Filled:
    """Write `ticks` synthetic ticks (event time from now, 10 µs apart) and wait for acks."""
    market = Market(symbol_names(symbols), seed=0, start_ns=time.time_ns(), spacing_ns=SPACING_NS)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=1_000_000
    )
    await producer.start()
    records = 0
    try:
        for lo in range(0, ticks, FILL_CHUNK_TICKS):
            encoded = encode_chunk(market.chunk(min(FILL_CHUNK_TICKS, ticks - lo)), fmt, batch_size)
            await send_all(producer, topic, encoded)
            records += len(encoded)
    finally:
        await producer.stop()
    filled = Filled(topic, partitions, fmt, ticks, records, batch_size)
    await _check_end_offsets(bootstrap, filled)
    return filled


async def _check_end_offsets(bootstrap: str, filled: Filled) -> None:
    await check_records(bootstrap, filled.topic, filled.partitions, filled.records)


async def check_records(bootstrap: str, topic: str, partitions: int, want: int) -> None:
    """Raise unless `topic` holds exactly `want` records."""
    held = sum((await end_offsets(bootstrap, topic, partitions)).values())
    if held != want:
        raise RuntimeError(f"{topic}: {held} records, not {want}")


async def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    """Each partition's end offset (the tests' too)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
        return {tp.partition: off for tp, off in ends.items()}
    finally:
        await consumer.stop()


@contextlib.asynccontextmanager
async def bare_consumer(
    bootstrap: str, topic: str, partitions: int, fetch_partition_bytes: int = 1024 * 1024
) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer without a group on every partition of `topic`, from the beginning."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=fetch_partition_bytes,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        yield consumer
    finally:
        await consumer.stop()
