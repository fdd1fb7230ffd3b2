"""The paced producer of bench/latency.py: ticks one record each, sent at a rate in its
own process, each record stamped with the wall clock at its send, and for every bar the
send stamp of the tick that closed it. Also the flat-out fill of the baseline's backlog.

    python bench/_latency_pace.py '<PaceSpec as JSON>'   (started by pacer())
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import uvloop
from aiokafka import AIOKafkaProducer

from _broker import check_records
from _service import stop, tail
from ticksmith.config import MonitorSettings
from ticksmith.kafka.ownership import partition_of
from ticksmith.monitor.gc_tuning import tuned_gc
from ticksmith.produce.market import Market, symbol_names
from ticksmith.produce.writer import Format, encode_chunk

PARTITIONS = 6
SYMBOLS = 1_000
INTERVAL_NS = 1_000_000_000  # bars.intervals_ms = [1000], the default
NO_BAR = -1
FILL_CHUNK = 20_000
PREPARE_SAMPLE = 20_000  # ticks made and encoded to time the rest
FILL_SPACING_NS = 10_000  # the backlog's event time: 10 µs apart, as bench/_broker.py fills
PACE_EVERY_S = 0.005  # the paced producer sends what is due this often
TIMEOUT_S = 180.0

I64 = npt.NDArray[np.int64]
Ints = npt.NDArray[np.intp]


# --- sending ticks: one record each, batched per partition ----------------------------------


class Sender:
    """Ticks to the ticks topic, one record per tick, key = symbol, each chunk's records
    appended to one batch per partition (the default partitioner's) and sent as batches:
    a `send()` per record would cost the producer more CPU than the service's work."""

    def __init__(
        self, producer: AIOKafkaProducer, topic: str, names: list[str], fmt: Format
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._names = names
        self._keys = [name.encode() for name in names]
        self._fmt = fmt
        self._partition = np.array([partition_of(s, PARTITIONS) for s in names])

    def codes(self, ticks: pd.DataFrame) -> Ints:
        """Each tick's symbol as its index in `names`."""
        return np.asarray(pd.Categorical(ticks["symbol"], categories=self._names).codes, np.intp)

    def encode(self, ticks: pd.DataFrame) -> list[bytes]:
        """The ticks' record values (the key is the symbol's name)."""
        return [value for _, value in encode_chunk(ticks, self._fmt)]

    async def send(
        self, values: list[bytes], codes: Ints, stamp_ms: int
    ) -> list[asyncio.Future[Any]]:
        """Send the encoded ticks (`codes`: their symbols) with the record timestamp
        `stamp_ms`; a future per batch."""
        partitions = self._partition[codes]
        order = np.argsort(partitions, kind="stable")
        bounds = np.searchsorted(partitions[order], np.arange(PARTITIONS + 1))
        symbol = codes.tolist()
        futures = []
        for p in range(PARTITIONS):
            chosen = order[bounds[p] : bounds[p + 1]].tolist()
            if chosen:
                records = [(self._keys[symbol[i]], values[i]) for i in chosen]
                futures += await self._send_partition(p, records, stamp_ms)
        return futures

    async def _send_partition(
        self, partition: int, records: list[tuple[bytes, bytes]], stamp_ms: int
    ) -> list[asyncio.Future[Any]]:
        futures = []
        batch = self._producer.create_batch()
        for key, value in records:
            if batch.append(key=key, value=value, timestamp=stamp_ms) is None:  # full
                futures.append(
                    await self._producer.send_batch(batch, self._topic, partition=partition)
                )
                batch = self._producer.create_batch()
                batch.append(key=key, value=value, timestamp=stamp_ms)
        futures.append(await self._producer.send_batch(batch, self._topic, partition=partition))
        return futures


@dataclass(frozen=True)
class Prepared:
    """Every tick of a paced run, made and encoded before it starts (making and encoding
    a tick costs the producer 2.4 us of CPU, three quarters of its work, which would take
    a core's worth from the service under test at the higher levels): the market's ticks,
    event time from `start_ns`."""

    values: list[bytes]
    codes: Ints
    ts: I64
    start_ns: int

    @classmethod
    def make(cls, sender: Sender, market_of: Callable[[int], Market], n: int) -> Prepared:
        """`n` ticks of `market_of(start_ns)`, `start_ns` far enough ahead to make them
        all by then (timed on a sample first)."""
        sample = market_of(0).chunk(PREPARE_SAMPLE)
        began = time.perf_counter()
        sender.encode(sample), sender.codes(sample)
        per_tick_s = (time.perf_counter() - began) / PREPARE_SAMPLE
        start_ns = time.time_ns() + int((1.2 * per_tick_s * n + 0.5) * 1e9)
        market = market_of(start_ns)
        values: list[bytes] = []
        codes, ts = [], []
        for lo in range(0, n, FILL_CHUNK):
            chunk = market.chunk(min(FILL_CHUNK, n - lo))
            values += sender.encode(chunk)
            codes.append(sender.codes(chunk))
            ts.append(chunk["ts"].to_numpy(np.int64))
        return cls(values, np.concatenate(codes), np.concatenate(ts), start_ns)


def settled(futures: list[asyncio.Future[Any]]) -> list[asyncio.Future[Any]]:
    """The futures not done yet; a failed send raises here."""
    for f in futures:
        if f.done():
            f.result()
    return [f for f in futures if not f.done()]


def service_gc() -> contextlib.AbstractContextManager[None]:
    """The garbage collector as the service runs it (start-up objects frozen, a high
    gen-0 threshold): with CPython's defaults, the producer's and the bare consumer's
    own gen-2 collections (~50 ms each, every ~0.5 s at 200k records/s) would be
    measured as latency."""
    settings = MonitorSettings()
    return tuned_gc(settings.gc_freeze, settings.gc_threshold0)


def producer_for(bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=0, max_batch_size=1_000_000
    )


async def fill_backlog(bootstrap: str, topic: str, fmt: Format, ticks: int) -> None:
    """`ticks` ticks flat out, event time 10 µs apart from now; returns once acknowledged."""
    names = symbol_names(SYMBOLS)
    market = Market(names, seed=1, start_ns=time.time_ns(), spacing_ns=FILL_SPACING_NS)
    producer = producer_for(bootstrap)
    await producer.start()
    try:
        sender, pending = Sender(producer, topic, names, fmt), list[asyncio.Future[Any]]()
        for lo in range(0, ticks, FILL_CHUNK):
            chunk = market.chunk(min(FILL_CHUNK, ticks - lo))
            values, codes = sender.encode(chunk), sender.codes(chunk)
            pending = settled(pending) + await sender.send(values, codes, now_ms())
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    await check_records(bootstrap, topic, PARTITIONS, ticks)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# --- the paced producer (this module as a script, in its own process) -----------------------


class Closers:
    """For every bar, the send stamp of the tick that closed it: the first tick of its
    symbol whose bar starts later (ticks of a symbol arrive in event-time order)."""

    def __init__(self, symbols: int) -> None:
        self._last = np.full(symbols, NO_BAR, dtype=np.int64)  # each symbol's forming bar
        self._parts: list[tuple[Ints, I64, I64]] = []

    def add(self, codes: Ints, ts: I64, stamp_ms: int) -> None:
        order = np.argsort(codes, kind="stable")
        symbol, start = codes[order], ts[order] - ts[order] % INTERVAL_NS
        first = np.r_[True, symbol[1:] != symbol[:-1]]
        before = np.r_[np.int64(NO_BAR), start[:-1]]
        before[first] = self._last[symbol[first]]
        closing = (start > before) & (before != NO_BAR)
        stamps = np.full(int(closing.sum()), stamp_ms, dtype=np.int64)
        self._parts.append((symbol[closing], before[closing], stamps))
        last = np.r_[symbol[1:] != symbol[:-1], True]
        self._last[symbol[last]] = start[last]

    def save(self, path: Path) -> None:
        empty = (np.empty(0, np.intp), np.empty(0, np.int64), np.empty(0, np.int64))
        columns = zip(*(self._parts or [empty]), strict=True)
        symbol, start, sent = (np.concatenate(column) for column in columns)
        np.savez(path, symbol=symbol, start_ns=start, sent_ms=sent)


@dataclass(frozen=True)
class PaceSpec:
    bootstrap: str
    topic: str
    fmt: Format
    rate: float  # ticks/s
    seconds: float
    closers: str  # where the closers are saved (.npz)
    seed: int = 0


@dataclass(frozen=True)
class Paced:
    """What the paced producer did, as it reports it on its last line."""

    sent: int
    seconds: float  # the whole run
    largest_gap_ms: float  # the longest wait of a due tick before its send


async def pace(spec: PaceSpec) -> None:
    """Send `rate` ticks a second for `seconds`, made and encoded before the start;
    print the start, then a summary, as JSON."""
    names = symbol_names(SYMBOLS)
    producer = producer_for(spec.bootstrap)
    await producer.start()
    try:
        sender, closers = Sender(producer, spec.topic, names, spec.fmt), Closers(len(names))
        spacing_ns = round(1e9 / spec.rate)  # event time follows the wall clock

        def market_of(start_ns: int) -> Market:
            return Market(names, seed=spec.seed, start_ns=start_ns, spacing_ns=spacing_ns)

        ticks = Prepared.make(sender, market_of, int(spec.seconds * spec.rate) + 1)
        await asyncio.sleep(max(0.0, (ticks.start_ns - time.time_ns()) / 1e9))
        print(json.dumps({"started_ms": now_ms()}), flush=True)
        with service_gc():
            paced = await _paced(sender, ticks, closers, spec)
    finally:
        await producer.stop()
    closers.save(Path(spec.closers))
    print(json.dumps(asdict(paced)), flush=True)


async def _paced(sender: Sender, ticks: Prepared, closers: Closers, spec: PaceSpec) -> Paced:
    started = time.monotonic()
    sent, gap, pending = 0, 0.0, list[asyncio.Future[Any]]()
    while (elapsed := time.monotonic() - started) < spec.seconds:
        due = min(int(elapsed * spec.rate), len(ticks.values)) - sent
        if due > 0:
            gap = max(gap, due / spec.rate)
            at = slice(sent, sent + due)
            stamp = now_ms()  # the send: handed to the client
            pending = settled(pending) + await sender.send(ticks.values[at], ticks.codes[at], stamp)
            closers.add(ticks.codes[at], ticks.ts[at], stamp)
            sent += due
        await asyncio.sleep(PACE_EVERY_S)
    seconds = time.monotonic() - started
    await asyncio.gather(*pending)
    return Paced(sent, seconds, gap * 1000)


@dataclass(frozen=True)
class Pacer:
    """The paced producer's process, and when it began sending."""

    proc: asyncio.subprocess.Process
    started_ms: int  # wall clock
    started_at: float  # time.monotonic()
    log: Path

    async def finish(self) -> Paced:
        """Wait for the end of its run, and what it reports."""
        assert self.proc.stdout is not None
        last = await asyncio.wait_for(self.proc.stdout.readline(), TIMEOUT_S)
        code = await asyncio.wait_for(self.proc.wait(), 60)
        if code != 0 or not last:
            raise RuntimeError(f"the producer exited {code}:\n{tail(self.log)}")
        return Paced(**json.loads(last))


@contextlib.asynccontextmanager
async def pacer(spec: PaceSpec, workdir: Path) -> AsyncIterator[Pacer]:
    """This module as a script, once it has begun sending; stopped on exit if still running."""
    log = workdir / f"producer-{uuid.uuid4().hex[:6]}.log"
    with log.open("w") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).resolve()),
            json.dumps(asdict(spec)),
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
        )
        try:
            assert proc.stdout is not None
            first = await asyncio.wait_for(proc.stdout.readline(), TIMEOUT_S)
            if not first:
                raise RuntimeError(f"the producer did not start:\n{tail(log)}")
            yield Pacer(proc, int(json.loads(first)["started_ms"]), time.monotonic(), log)
        finally:
            await stop(proc)


if __name__ == "__main__":
    uvloop.run(pace(PaceSpec(**json.loads(sys.argv[1]))))
