"""What a fault test needs besides the brokers: ticks that keep streaming through
the fault, members as real `ticksmith run` processes, and a verdict that compares
every published bar with the offline recomputation of exactly what the ticks
topic holds (so a chunk lost to an outage, or written although its acknowledgement
was lost, is judged as the log has it).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

import msgspec
import numpy as np
import pandas as pd
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from tests.integration.conftest import service_env, wait_for
from tests.oracle import BAR_COLUMNS, offline_bars
from ticksmith import output
from ticksmith.config import HttpSettings, Settings
from ticksmith.kafka.settings import KafkaSettings
from ticksmith.produce.market import Market
from ticksmith.produce.writer import encode_chunk

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


async def fault_settings(
    admin: AIOKafkaAdminClient, bootstrap: str, partitions: int, replication: int
) -> Settings:
    """Fresh ticks, dead-letter and output topics on `bootstrap`, and settings for them."""
    Settings.toml_file = None
    name = uuid.uuid4().hex[:10]
    topics = {"ticks": partitions, "dlq": 1, "out": partitions}
    await admin.create_topics(
        [NewTopic(f"{t}-{name}", n, replication_factor=replication) for t, n in topics.items()]
    )
    for t, n in topics.items():
        await wait_for(lambda t=t, n=n: _led(admin, f"{t}-{name}", n), f"topic {t}-{name}")  # type: ignore[misc]
    kafka = KafkaSettings(
        bootstrap_servers=bootstrap,
        ticks_topic=f"ticks-{name}",
        dead_letter_topic=f"dlq-{name}",
        output_topic=f"out-{name}",
        group_id=f"g-{name}",
        fetch_timeout_ms=100,
        topic_partitions=partitions,
        topic_replication_factor=replication,
    )
    return Settings(kafka=kafka, http=HttpSettings(port=0))


async def _led(admin: AIOKafkaAdminClient, topic: str, partitions: int) -> bool:
    described = await admin.describe_topics([topic])
    parts = described[0].get("partitions", []) if described else []
    return len(parts) == partitions and all(p.get("leader", -1) >= 0 for p in parts)


@dataclass
class TickStream:
    """Sends `chunk` ticks every chunk/rate seconds, without waiting for the previous
    chunk's acknowledgements, until stopped.

    A send that fails (the broker is away; or, after an outage, the idempotent
    producer's sequence is broken for good: OutOfOrderSequenceNumber) retires the
    producer: once all its sends are settled, so nothing of it can land after the
    new one's records, a new producer takes over and the stream goes on.
    """

    bootstrap: str
    topic: str
    market: Market
    rate_per_s: float
    chunk: int = 500
    outcomes: Counter[str] = field(default_factory=Counter)
    producers: int = 0
    _pending: list[asyncio.Future[object]] = field(default_factory=list)
    _broken: bool = False
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        producer = await self._new_producer()
        self._task = asyncio.create_task(self._run(producer))

    async def _new_producer(self) -> AIOKafkaProducer:
        while True:
            # idempotent: a retried batch is neither duplicated nor reordered in the log
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True, linger_ms=10
            )
            try:
                await producer.start()
                self.producers += 1
                return producer
            except KafkaError:
                await producer.stop()
                await self._pace(time.monotonic() + 0.5)  # the broker is still away

    async def _run(self, producer: AIOKafkaProducer) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            if self._broken:
                producer = await self._retire(producer)
            await self._send(producer, encode_chunk(self.market.chunk(self.chunk)))
            next_at += self.chunk / self.rate_per_s
            await self._pace(next_at)
        await self._settle()
        await producer.stop()

    async def _send(self, producer: AIOKafkaProducer, records: list[tuple[bytes, bytes]]) -> None:
        try:
            for key, value in records:
                ack = await producer.send(self.topic, value=value, key=key)
                ack.add_done_callback(self._check)
                self._pending.append(ack)
        except KafkaError as exc:
            self.outcomes[f"refused: {type(exc).__name__}"] += 1
            self._broken = True

    def _check(self, ack: asyncio.Future[object]) -> None:
        if ack.cancelled() or ack.exception() is not None:
            self._broken = True

    async def _retire(self, producer: AIOKafkaProducer) -> AIOKafkaProducer:
        await self._settle()
        await producer.stop()
        self._broken = False
        return await self._new_producer()

    async def _settle(self) -> None:
        done = await asyncio.gather(*self._pending, return_exceptions=True)
        self._pending = []
        self.outcomes.update(
            type(o).__name__ if isinstance(o, BaseException) else "acked" for o in done
        )

    async def _pace(self, until: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), max(0.0, until - time.monotonic()))

    async def stop(self) -> Counter[str]:
        """Stop sending, wait for every acknowledgement; how the sends ended (records
        acked or failed, by error; chunks refused), and how many producers it took."""
        assert self._task is not None
        self._stop.set()
        await self._task
        return self.outcomes + Counter(producers=self.producers)


@dataclass
class Timeline:
    """What the test did when (wall clock, as in the members' logs), for the report."""

    events: list[str] = field(default_factory=list)

    def __call__(self, what: str) -> None:
        self.events.append(
            f"{time.strftime('%H:%M:%S')}.{int(time.time() * 1000) % 1000:03d} {what}"
        )

    def __str__(self) -> str:
        return "\n".join(self.events)


@dataclass
class Member:
    """`ticksmith run` as a process; its stderr goes to `log` for the report."""

    name: str
    proc: asyncio.subprocess.Process
    log: Path

    @classmethod
    async def start(cls, name: str, settings: Settings, port: int, logs: Path) -> Member:
        log = logs / f"{name}.log"
        with log.open("wb") as err:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ticksmith", "run",
                env=service_env(settings, port), stderr=err, stdout=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        return cls(name, proc, log)

    async def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> int:
        """SIGTERM, as an operator stops it; its exit code."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                await self.kill()
        assert self.proc.returncode is not None
        return self.proc.returncode

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


async def read_topic(
    bootstrap: str, topic: str, partitions: int, timeout_s: float = 60
) -> list[Record]:
    """Every record of `topic`, from the beginning to its end offsets as of now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        records: list[Record] = []
        deadline = time.monotonic() + timeout_s
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            assert time.monotonic() < deadline, f"reading {topic} took over {timeout_s}s"
            batch = await consumer.getmany(timeout_ms=200, max_records=50_000)
            records += [r for rs in batch.values() for r in rs]
        return records
    finally:
        await consumer.stop()


class _Tick(msgspec.Struct):
    symbol: str
    ts: int
    price: float
    size: float


def ticks_of(records: list[Record]) -> pd.DataFrame:
    """The ticks in the log, in partition and offset order."""
    records = sorted(records, key=lambda r: (r.partition, r.offset))
    values = [r.value for r in records if r.value is not None]
    ticks = msgspec.json.decode(b"[" + b",".join(values) + b"]", type=list[_Tick])
    return pd.DataFrame(
        {
            "symbol": [t.symbol for t in ticks],
            "ts": np.array([t.ts for t in ticks], dtype=np.int64),
            "price": [t.price for t in ticks],
            "size": [t.size for t in ticks],
            "partition": [r.partition for r in records],
            "offset": [r.offset for r in records],
        }
    )


def out_of_order(ticks: pd.DataFrame) -> int:
    """Ticks not newer than the one before them of their symbol, in log order. The
    market's event time strictly increases, so anything here came from the producer."""
    previous = ticks.groupby("symbol", sort=False)["ts"].shift()
    return int((ticks["ts"] <= previous).sum())


def dead_letter_reasons(records: list[Record]) -> Counter[str]:
    return Counter(dict(r.headers).get("ticksmith.reason", b"?").decode() for r in records)


def dead_letter_summary(records: list[Record]) -> str:
    """Per reason and source partition: how many, which offsets, when (wall clock)."""
    rows = []
    for r in records:
        headers = dict(r.headers)
        source = (headers["ticksmith.reason"].decode(), int(headers["ticksmith.source.partition"]))
        rows.append((*source, int(headers["ticksmith.source.offset"]), r.timestamp))
    frame = pd.DataFrame(rows, columns=["reason", "partition", "offset", "ms"])
    frame["at"] = pd.to_datetime(frame["ms"], unit="ms").dt.strftime("%H:%M:%S.%f").str[:-3]
    summary = frame.groupby(["reason", "partition"]).agg(
        n=("offset", "size"),
        first_offset=("offset", "min"),
        last_offset=("offset", "max"),
        first_at=("at", "min"),
        last_at=("at", "max"),
    )
    return str(summary.to_string())


def published_bars(records: list[Record], interval_ms: int) -> tuple[pd.DataFrame, int]:
    """One row per published bar of `interval_ms` (its first record), indexed like the
    oracle; and how many bars were published twice with different bytes."""
    first: dict[tuple[str, int], bytes] = {}
    conflicts = 0
    for r in records:
        assert r.value is not None
        bar = output.decode(r.value)
        if bar.interval_ms == interval_ms:
            conflicts += first.setdefault((bar.symbol, bar.start_ns), r.value) != r.value
    rows = [msgspec.structs.asdict(output.decode(v)) for v in first.values()]
    frame = pd.DataFrame(rows, columns=["symbol", "start_ns", *BAR_COLUMNS])
    frame["vwap"] = frame["vwap"].astype(float)
    return frame.set_index(["symbol", "start_ns"]).sort_index(), conflicts


def bar_problems(actual: pd.DataFrame, expected: pd.DataFrame) -> list[str]:
    """What differs between published and recomputed bars, counted."""
    missing = expected.index.difference(actual.index)
    extra = actual.index.difference(expected.index)
    both = expected.index.intersection(actual.index)
    a, e = actual.loc[both], expected.loc[both]
    exact = [c for c in BAR_COLUMNS if c != "vwap"]
    differs = (a[exact] != e[exact]).any(axis=1)
    differs |= ~np.isclose(a["vwap"], e["vwap"], rtol=1e-12, atol=0, equal_nan=True)
    problems = []
    if len(missing):
        problems.append(f"{len(missing)} of {len(expected)} closed bars never published")
    if len(extra):
        problems.append(f"{len(extra)} bars published that the log does not close")
    if differs.any():
        wrong = a[differs].head(3).join(e[differs].head(3).add_suffix("_expected"))
        problems.append(f"{int(differs.sum())} bars wrong, e.g.\n{wrong.to_string()}")
    return problems


async def verdict(settings: Settings, interval_ms: int = 1000) -> tuple[list[str], dict[str, int]]:
    """Every problem found in the topics after a run, and what was judged."""
    k = settings.kafka
    n = k.topic_partitions
    ticks = ticks_of(await read_topic(k.bootstrap_servers, k.ticks_topic, n))
    disorder = out_of_order(ticks)
    assert disorder == 0, f"the ticks topic holds {disorder} out-of-order ticks: a test failure"
    expected = offline_bars(ticks, interval_ms * 1_000_000)
    out = await read_topic(k.bootstrap_servers, k.output_topic, n)
    actual, conflicts = published_bars(out, interval_ms)
    dead = await read_topic(k.bootstrap_servers, k.dead_letter_topic, 1)
    reasons = dead_letter_reasons(dead)
    problems = bar_problems(actual, expected)
    if conflicts:
        problems.append(f"{conflicts} bars published twice with different values")
    if reasons:
        problems.append(f"good ticks dead-lettered: {dict(reasons)}\n{dead_letter_summary(dead)}")
    judged = {"ticks": len(ticks), "bars": len(expected), "output records": len(out)}
    return problems, judged
