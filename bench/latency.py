"""End-to-end latency under paced load: from a tick's send to the broker's append of the
output record of the bar that tick closed, at 25, 50 and 75 % of the service's maximum
ingest rate measured in the same run.

1. The baseline: a topic is filled with one tick per record (6 partitions, 1,000 symbols),
   and `ticksmith run` (a process, a fresh group each time) drains it MAX_RUNS times; the
   maximum ingest rate is the median drain rate, from the first tick consumed to the last
   (read from the service's /metrics).
2. Per level (fraction of that maximum), fresh topics and a fresh `ticksmith run`: a
   paced producer (another process: this script with --pace) sends ticks at the rate, each
   record stamped with the wall clock when it is sent, event time following the wall
   clock, so 1 s bars close all along. The output topic is `LogAppendTime`, so an output
   record's timestamp is the broker's append time. After a warm-up, a window of
   measurement: reads of `GET /v1/symbols/{symbol}/indicators?limit=100` at a steady rate
   (random symbols), /metrics scraped at its start and end (event-loop lag), CPU of the
   service, the producer and the broker.
3. A bar closes on the first tick of its symbol at or past its end (bars.lateness_ms and
   bars.quiet_close_ms are 0); the producer records, for each bar, that tick's send stamp.
   Each output record of a bar closed by a tick sent in the window gives one latency:
   append time minus send stamp (both whole milliseconds, one host's clock).
4. The floor, per level, with the service stopped: the same paced producer into a fresh
   topic read by a bare consumer here; send stamp to receipt (the Kafka hop alone).

    python bench/latency.py            (or: make bench-latency)

About 3 minutes. Ends with one `RESULT latency ...` line and rewrites the generated block
of the `## latency` section of bench/RESULTS.md (unless --no-write); the method prose
around the block is kept there by hand. The broker is deploy/kafka/broker.sh
on BENCH_KAFKA_PORT (19392), started and stopped here if it is not already running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import numpy.typing as npt
import pandas as pd
import psutil
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from _broker import BROKER, PORT, ROOT, Topics, local_broker
from _results import load_average, machine, revision, write_generated
from ticksmith import output
from ticksmith.config import MonitorSettings
from ticksmith.kafka.ownership import partition_of
from ticksmith.monitor.gc_tuning import tuned_gc
from ticksmith.produce.market import Market, symbol_names
from ticksmith.produce.writer import Format, encode_chunk

PARTITIONS = 6
SYMBOLS = 1_000
FRACTIONS = (0.25, 0.50, 0.75)
INTERVAL_NS = 1_000_000_000  # bars.intervals_ms = [1000], the default
NO_BAR = -1
MAX_TICKS = 3_000_000  # the backlog the maximum is measured on: drained in 5-10 s
MAX_RUNS = 3
FILL_CHUNK = 20_000
FILL_SPACING_NS = 10_000  # the backlog's event time: 10 µs apart, as bench/_broker.py fills
PACE_EVERY_S = 0.005  # the paced producer sends what is due this often
WARM_S = 5.0
MEASURE_S = 25.0
READ_RATE = 50.0  # API reads per second, open loop
READS_IN_FLIGHT = 32
READ_PATH = "/v1/symbols/{}/indicators?limit=100"
SCRAPE_S = 0.1  # /metrics sampling while the backlog drains
HOP_WARM_S = 2.0
HOP_S = 10.0
FETCH_PARTITION_BYTES = 4 * 1024 * 1024  # the service's consumer's
FETCH_MAX_RECORDS = 20_000  # kafka.fetch_max_records
TIMEOUT_S = 180.0
GOAL_P99_MS = 50.0  # at 50 %
GOAL_LOOP_LAG_P99_MS = 10.0  # at 50 %
LOG_APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}
LOG_APPEND_TIME_TYPE = 1  # ConsumerRecord.timestamp_type
LOOP_LAG = "ticksmith_event_loop_lag_seconds"
BATCH_SECONDS = "ticksmith_batch_processing_seconds"
BATCH_RECORDS = "ticksmith_batch_records"
GC_PAUSE = "ticksmith_gc_pause_seconds"
TICKS_CONSUMED = "ticksmith_ticks_consumed_total"
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## latency"
DASH = "\N{EN DASH}"
LE = "\N{LESS-THAN OR EQUAL TO}"

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
        self._fmt = fmt
        self._partition = np.array([partition_of(s, PARTITIONS) for s in names])

    def codes(self, ticks: pd.DataFrame) -> Ints:
        """Each tick's symbol as its index in `names`."""
        return np.asarray(pd.Categorical(ticks["symbol"], categories=self._names).codes, np.intp)

    def encode(self, ticks: pd.DataFrame) -> list[tuple[bytes, bytes]]:
        return encode_chunk(ticks, self._fmt)

    async def send(
        self, records: list[tuple[bytes, bytes]], codes: Ints, stamp_ms: int
    ) -> list[asyncio.Future[Any]]:
        """Send the encoded ticks (`codes`: their symbols) with the record timestamp
        `stamp_ms`; a future per batch."""
        partitions = self._partition[codes]
        order = np.argsort(partitions, kind="stable")
        bounds = np.searchsorted(partitions[order], np.arange(PARTITIONS + 1))
        futures = []
        for p in range(PARTITIONS):
            chosen = [records[i] for i in order[bounds[p] : bounds[p + 1]].tolist()]
            if chosen:
                futures += await self._send_partition(p, chosen, stamp_ms)
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
            records, codes = sender.encode(chunk), sender.codes(chunk)
            pending = settled(pending) + await sender.send(records, codes, now_ms())
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    await check_records(bootstrap, topic, ticks)


async def check_records(bootstrap: str, topic: str, want: int) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(PARTITIONS)])
    finally:
        await consumer.stop()
    if sum(ends.values()) != want:
        raise RuntimeError(f"{topic}: {sum(ends.values())} records, not {want}")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# --- the paced producer (this script with --pace, in its own process) ----------------------


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
    """Send `rate` ticks a second for `seconds`; print the start, then a summary, as JSON."""
    names = symbol_names(SYMBOLS)
    producer = producer_for(spec.bootstrap)
    await producer.start()
    try:
        sender, closers = Sender(producer, spec.topic, names, spec.fmt), Closers(len(names))
        spacing_ns = round(1e9 / spec.rate)  # event time follows the wall clock
        market = Market(names, seed=spec.seed, start_ns=time.time_ns(), spacing_ns=spacing_ns)
        print(json.dumps({"started_ms": now_ms()}), flush=True)
        with service_gc():
            paced = await _paced(sender, market, closers, spec)
    finally:
        await producer.stop()
    closers.save(Path(spec.closers))
    print(json.dumps(asdict(paced)), flush=True)


async def _paced(sender: Sender, market: Market, closers: Closers, spec: PaceSpec) -> Paced:
    started = time.monotonic()
    sent, gap, pending = 0, 0.0, list[asyncio.Future[Any]]()
    while (elapsed := time.monotonic() - started) < spec.seconds:
        due = int(elapsed * spec.rate) - sent
        if due > 0:
            gap = max(gap, due / spec.rate)
            chunk = market.chunk(due)
            records, codes = sender.encode(chunk), sender.codes(chunk)
            stamp = now_ms()  # the send: encoded, handed to the client
            pending = settled(pending) + await sender.send(records, codes, stamp)
            closers.add(codes, chunk["ts"].to_numpy(), stamp)
            sent += due
        await asyncio.sleep(PACE_EVERY_S)
    seconds = time.monotonic() - started
    await asyncio.gather(*pending)
    return Paced(sent, seconds, gap * 1000)


# --- the service, as a process ------------------------------------------------------------


@dataclass(frozen=True)
class Scrape:
    at: float  # time.monotonic(), the middle of the read
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]

    def total(self, name: str) -> float:
        return sum(v for (n, _), v in self.samples.items() if n == name)

    def buckets(self, name: str) -> dict[float, float]:
        """A histogram's cumulative counts by upper bound, summed over its labels."""
        out: dict[float, float] = {}
        for (n, labels), v in self.samples.items():
            if n == f"{name}_bucket":
                le = float(dict(labels)["le"])
                out[le] = out.get(le, 0.0) + v
        return out


def parse(text: str, at: float) -> Scrape:
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): float(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return Scrape(at, samples)


def bucket_quantile(a: Scrape, b: Scrape, name: str, q: float) -> float:
    """The upper bound of the histogram bucket that holds the q-quantile of the
    observations made between two scrapes (q=1: the largest; inf past the last bound;
    nan if none)."""
    before, after = a.buckets(name), b.buckets(name)
    total = after.get(math.inf, 0.0) - before.get(math.inf, 0.0)
    if total <= 0:
        return math.nan
    return next(le for le in sorted(after) if after[le] - before.get(le, 0.0) >= q * total)


def delta(a: Scrape, b: Scrape, name: str) -> float:
    return b.total(name) - a.total(name)


@dataclass
class Service:
    proc: asyncio.subprocess.Process
    base: str
    http: aiohttp.ClientSession
    log: Path

    def alive(self) -> None:
        if self.proc.returncode is not None:
            raise RuntimeError(f"service exited {self.proc.returncode}:\n{tail(self.log)}")

    async def scrape(self) -> Scrape:
        before = time.monotonic()
        async with self.http.get(f"{self.base}/metrics") as response:
            response.raise_for_status()
            text = await response.text()
        return parse(text, (before + time.monotonic()) / 2)

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            self.alive()
            with contextlib.suppress(aiohttp.ClientError):
                async with self.http.get(f"{self.base}/readyz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"service not ready after {TIMEOUT_S:.0f} s:\n{tail(self.log)}")

    async def ticks_until(self, done: Callable[[float], bool], every_s: float) -> Scrape:
        """Scrape every `every_s` until `done(ticks consumed)`."""
        deadline = time.monotonic() + TIMEOUT_S
        while not done((got := await self.scrape()).total(TICKS_CONSUMED)):
            self.alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"stuck at {got.total(TICKS_CONSUMED):,.0f} ticks")
            await asyncio.sleep(every_s)
        return got


@dataclass(frozen=True)
class Wiring:
    """The topics one service instance reads and writes."""

    bootstrap: str
    ticks: str
    dead_letter: str
    output: str


def service_env(w: Wiring, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKSMITH_")}
    return env | {
        "TICKSMITH_KAFKA__BOOTSTRAP_SERVERS": w.bootstrap,
        "TICKSMITH_KAFKA__TICKS_TOPIC": w.ticks,
        "TICKSMITH_KAFKA__DEAD_LETTER_TOPIC": w.dead_letter,
        "TICKSMITH_KAFKA__OUTPUT_TOPIC": w.output,
        "TICKSMITH_KAFKA__GROUP_ID": f"bench-latency-{uuid.uuid4().hex[:10]}",
        "TICKSMITH_HTTP__PORT": str(port),
    }


@contextlib.asynccontextmanager
async def service(w: Wiring, workdir: Path) -> AsyncIterator[Service]:
    """`ticksmith run` with a fresh group, ready; stopped with SIGTERM (the batch in
    flight settles: its output records are acknowledged) and checked to exit 0."""
    port, log = free_port(), workdir / f"service-{uuid.uuid4().hex[:6]}.log"
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=READS_IN_FLIGHT + 4)
    with log.open("w") as out:
        proc = await spawn(["-m", "ticksmith", "run"], service_env(w, port), out)
        try:
            async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
                svc = Service(proc, f"http://127.0.0.1:{port}", http, log)
                await svc.wait_ready()
                yield svc
        finally:
            code = await stop_process(proc)
    if code != 0:
        raise RuntimeError(f"service exited {code} on SIGTERM:\n{tail(log)}")


async def spawn(args: list[str], env: dict[str, str], log: Any) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, *args, env=env, stdout=log, stderr=log
    )


async def stop_process(proc: asyncio.subprocess.Process, timeout_s: float = 60) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return await asyncio.wait_for(proc.wait(), timeout_s)
    except TimeoutError:
        proc.kill()
        return await proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, n: int = 3000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else ""


# --- the baseline: the maximum ingest rate ------------------------------------------------


async def drain_rate(w: Wiring, ticks: int, workdir: Path) -> float:
    """Ticks/s of a fresh instance draining the backlog, from the first scrape that
    counted any tick to the one that counted them all (start-up and join left out)."""
    async with service(w, workdir) as svc:
        first = await svc.ticks_until(lambda n: n > 0, SCRAPE_S)
        last = await svc.ticks_until(lambda n: n >= ticks, SCRAPE_S)
    counted = last.total(TICKS_CONSUMED) - first.total(TICKS_CONSUMED)
    if first.total(TICKS_CONSUMED) >= ticks or counted <= 0:
        raise RuntimeError("drained between two scrapes: make the backlog bigger")
    return counted / (last.at - first.at)


# --- one paced level ----------------------------------------------------------------------


@dataclass(frozen=True)
class Read:
    ms: float
    status: int
    first: bool  # the first read of its symbol in this level: the service builds the frame


async def read_steadily(
    http: aiohttp.ClientSession, base: str, rate: float, stop: asyncio.Event, reads: list[Read]
) -> None:
    """Open loop: a read of a random symbol every 1/rate s, whatever the answers take
    (at most READS_IN_FLIGHT at once)."""
    names, rng, seen = symbol_names(SYMBOLS), random.Random(0), set[str]()
    slots, tasks = asyncio.Semaphore(READS_IN_FLIGHT), set[asyncio.Task[None]]()
    next_at = time.monotonic()
    while not stop.is_set():
        symbol = rng.choice(names)
        task = asyncio.create_task(_read(http, base, symbol, symbol not in seen, slots, reads))
        seen.add(symbol)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        next_at += 1 / rate
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, next_at - time.monotonic()))
    await asyncio.gather(*tasks)


async def _read(
    http: aiohttp.ClientSession,
    base: str,
    symbol: str,
    first: bool,
    slots: asyncio.Semaphore,
    reads: list[Read],
) -> None:
    async with slots:
        started = time.perf_counter()
        try:
            async with http.get(base + READ_PATH.format(symbol)) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        reads.append(Read((time.perf_counter() - started) * 1000, status, first))


def cpu_seconds(pids: dict[str, int | None]) -> dict[str, float]:
    """User plus system CPU of each process so far (nan if it is gone or unknown), and
    of the whole machine, every core (`machine`)."""
    out = {}
    for name, pid in pids.items():
        try:
            times = psutil.Process(pid).cpu_times() if pid else None
        except psutil.NoSuchProcess:
            times = None
        out[name] = times.user + times.system if times else math.nan
    t = psutil.cpu_times()
    out["machine"] = t.user + t.nice + t.system + t.irq + t.softirq
    return out


def broker_pid() -> int | None:
    env = {**os.environ, "KAFKA_PORT": str(PORT)}
    got = subprocess.run([str(BROKER), "pid"], env=env, capture_output=True, text=True)
    return int(got.stdout.strip()) if got.returncode == 0 and got.stdout.strip() else None


@dataclass(frozen=True)
class Window:
    """What was seen inside one level's window of measurement."""

    lo_ms: int  # wall clock
    hi_ms: int
    first: Scrape
    last: Scrape
    cpu: dict[str, float]  # CPU seconds per process inside the window
    reads: list[Read]

    @property
    def seconds(self) -> float:
        return self.last.at - self.first.at


async def measure_window(
    svc: Service, pids: dict[str, int | None], started: tuple[int, float], plan: Plan
) -> Window:
    """Scrape and sample CPU at the window's ends, and read the API in between.
    `started`: the producer's start, (wall ms, time.monotonic())."""
    started_ms, started_at = started
    await asyncio.sleep(max(0.0, started_at + plan.warm_s - time.monotonic()))
    first, cpu_first = await svc.scrape(), cpu_seconds(pids)
    stop, reads = asyncio.Event(), list[Read]()
    reader = asyncio.create_task(read_steadily(svc.http, svc.base, plan.read_rate, stop, reads))
    await asyncio.sleep(max(0.0, started_at + plan.warm_s + plan.measure_s - time.monotonic()))
    last, cpu_last = await svc.scrape(), cpu_seconds(pids)
    stop.set()
    await reader
    cpu = {k: cpu_last[k] - cpu_first[k] for k in cpu_last}
    lo = started_ms + round(plan.warm_s * 1000)
    return Window(lo, lo + round(plan.measure_s * 1000), first, last, cpu, reads)


@dataclass(frozen=True)
class Level:
    fraction: float
    target: float  # ticks/s
    paced: Paced
    window: Window
    latencies_ms: npt.NDArray[np.float64]  # one per bar closed by a tick sent in the window
    missing: int  # such bars without an output record
    unexplained: int  # output records of bars no tick closed
    hop_ms: npt.NDArray[np.float64]  # the Kafka hop alone: send to a bare consumer's receipt

    @property
    def pct(self) -> int:
        return round(self.fraction * 100)

    @property
    def sent_rate(self) -> float:
        return self.paced.sent / self.paced.seconds

    def latency(self, q: float) -> float:
        return quantile(self.latencies_ms, q)

    def hop(self, q: float) -> float:
        return quantile(self.hop_ms, q)

    def bucket_ms(self, histogram: str, q: float) -> float:
        w = self.window
        return 1000 * bucket_quantile(w.first, w.last, histogram, q)

    def loop_lag_ms(self, q: float = 0.99) -> float:
        return self.bucket_ms(LOOP_LAG, q)

    @property
    def batch_mean_ms(self) -> float:
        w = self.window
        count = delta(w.first, w.last, f"{BATCH_SECONDS}_count")
        return 1000 * delta(w.first, w.last, f"{BATCH_SECONDS}_sum") / count if count else math.nan

    @property
    def records_per_batch(self) -> float:
        w = self.window
        count = delta(w.first, w.last, f"{BATCH_RECORDS}_count")
        return delta(w.first, w.last, f"{BATCH_RECORDS}_sum") / count if count else math.nan

    def reads_ms(self, q: float, first: bool | None = None) -> float:
        ok = [r.ms for r in self.window.reads if r.status == 200 and first in (None, r.first)]
        return quantile(np.asarray(ok, dtype=np.float64), q)

    @property
    def bad_reads(self) -> int:
        return sum(r.status != 200 for r in self.window.reads)

    def cpu_pct(self, process: str) -> float:
        """% of one core; `others`: the machine less this benchmark's processes."""
        cpu = self.window.cpu
        if process == "others":
            ours = sum(cpu[k] for k in ("service", "producer", "broker", "bench"))
            return 100 * max(0.0, cpu["machine"] - ours) / self.window.seconds
        return 100 * cpu[process] / self.window.seconds

    def cpu_us_per_tick(self, process: str) -> float:
        """CPU time per tick sent in the window: what the process costs, whatever its share."""
        return 1e6 * self.window.cpu[process] / (self.sent_rate * self.window.seconds)


def quantile(values: npt.NDArray[np.float64], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    if not len(values):
        return math.nan
    ordered = np.sort(values)
    return float(ordered[max(0, math.ceil(q * len(ordered)) - 1)])


@dataclass(frozen=True)
class Plan:
    fmt: Format
    warm_s: float
    measure_s: float
    read_rate: float
    hop_s: float


async def run_level(
    topics: Topics, bootstrap: str, dead_letter: str, fraction: float, rate: float, plan: Plan
) -> Level:
    """Fresh topics and a fresh service instance, paced at `rate` ticks/s."""
    pct = round(fraction * 100)
    ticks = await topics.create(f"lat-ticks-{pct}", PARTITIONS)
    out = await topics.create(f"lat-out-{pct}", PARTITIONS, LOG_APPEND_TIME)
    hop_topic = await topics.create(f"lat-hop-{pct}", PARTITIONS)  # early: leaders settle
    w = Wiring(bootstrap, ticks, dead_letter, out)
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        workdir = Path(tmp)
        spec = PaceSpec(
            bootstrap, ticks, plan.fmt, rate, plan.warm_s + plan.measure_s, tmp + "/closers.npz"
        )
        async with service(w, workdir) as svc:
            paced, window = await paced_window(svc, spec, workdir, plan)
            await svc.ticks_until(lambda n: n >= paced.sent, 0.25)
        closers = dict(np.load(spec.closers))
        hop_spec = replace(
            spec, topic=hop_topic, seconds=HOP_WARM_S + plan.hop_s, closers=tmp + "/hop.npz"
        )
        hop = await hop_latencies(bootstrap, hop_spec, plan, workdir)
    await check_records(bootstrap, ticks, paced.sent)
    outputs = await read_outputs(bootstrap, out)
    latencies, missing, unexplained = join(closers, outputs, window)
    return Level(fraction, rate, paced, window, latencies, missing, unexplained, hop)


async def paced_window(
    svc: Service, spec: PaceSpec, workdir: Path, plan: Plan
) -> tuple[Paced, Window]:
    """Run the paced producer and measure its window; wait for it to finish."""
    async with pacer(spec, workdir) as p:
        pids = {
            "service": svc.proc.pid,
            "producer": p.proc.pid,
            "broker": broker_pid(),
            "bench": os.getpid(),
        }
        window = await measure_window(svc, pids, (p.started_ms, p.started_at), plan)
        return await p.finish(), window


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
    """This script with --pace, once it has begun sending; stopped on exit if still running."""
    log = workdir / f"producer-{uuid.uuid4().hex[:6]}.log"
    with log.open("w") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).resolve()),
            "--pace",
            json.dumps(asdict(spec)),
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
        )
        try:
            assert proc.stdout is not None
            first = await asyncio.wait_for(proc.stdout.readline(), 60)
            if not first:
                raise RuntimeError(f"the producer did not start:\n{tail(log)}")
            yield Pacer(proc, int(json.loads(first)["started_ms"]), time.monotonic(), log)
        finally:
            await stop_process(proc)


# --- the Kafka hop alone: the latency floor -------------------------------------------------


async def hop_latencies(
    bootstrap: str, spec: PaceSpec, plan: Plan, workdir: Path
) -> npt.NDArray[np.float64]:
    """Send stamp to receipt by a bare consumer (this process, the service's fetch size),
    for the records sent in a window of `plan.hop_s` after HOP_WARM_S: what the way in
    costs before the service does anything."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=FETCH_PARTITION_BYTES,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(spec.topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        async with pacer(spec, workdir) as p:
            with service_gc():
                sent, received = await receive_all(consumer, p)
    finally:
        await consumer.stop()
    lo = p.started_ms + round(HOP_WARM_S * 1000)
    inside = (sent >= lo) & (sent < lo + round(plan.hop_s * 1000))
    return (received - sent)[inside].astype(np.float64)


async def receive_all(consumer: AIOKafkaConsumer, p: Pacer) -> tuple[I64, I64]:
    """Every record's send stamp and the wall clock (ms) when getmany() returned it."""
    finish = asyncio.create_task(p.finish())
    stamps, receipts, count = [np.empty(0, np.int64)], [np.empty(0, np.int64)], 0
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while not (finish.done() and count >= finish.result().sent):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the bare consumer is stuck at {count:,} records")
            batch = await consumer.getmany(timeout_ms=200, max_records=FETCH_MAX_RECORDS)
            at = now_ms()
            for records in batch.values():
                stamps.append(np.fromiter((r.timestamp for r in records), np.int64, len(records)))
                receipts.append(np.full(len(records), at, dtype=np.int64))
                count += len(records)
    finally:
        finish.cancel()
    return np.concatenate(stamps), np.concatenate(receipts)


async def read_outputs(bootstrap: str, topic: str) -> pd.DataFrame:
    """Every output record: symbol, bar start, broker append time (ms)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    rows: list[tuple[str, int, int]] = []
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                rows += [_row(r) for r in records]
    finally:
        await consumer.stop()
    return pd.DataFrame(rows, columns=["symbol", "start_ns", "append_ms"])


def _row(record: Any) -> tuple[str, int, int]:
    if record.timestamp_type != LOG_APPEND_TIME_TYPE:
        raise RuntimeError("output record without LogAppendTime: the topic config was not set")
    bar = output.decode(record.value)
    if bar.interval_ms * 1_000_000 != INTERVAL_NS:
        raise RuntimeError(f"an output bar of {bar.interval_ms} ms: only 1000 ms expected")
    return bar.symbol, bar.start_ns, int(record.timestamp)


def join(
    closers: dict[str, npt.NDArray[Any]], outputs: pd.DataFrame, window: Window
) -> tuple[npt.NDArray[np.float64], int, int]:
    """Latencies of the bars closed by ticks sent in the window; how many of those bars
    have no output record; how many output records no tick closed."""
    names = np.asarray(symbol_names(SYMBOLS), dtype=object)
    closed = pd.DataFrame(
        {"symbol": names[closers["symbol"]], "start_ns": closers["start_ns"]}
    ).assign(sent_ms=closers["sent_ms"])
    published = outputs.sort_values("append_ms").drop_duplicates(["symbol", "start_ns"])
    keys = ["symbol", "start_ns"]
    unexplained = len(
        published.merge(closed[keys], on=keys, how="left", indicator=True).query(
            "_merge == 'left_only'"
        )
    )
    inside = closed[(closed["sent_ms"] >= window.lo_ms) & (closed["sent_ms"] < window.hi_ms)]
    joined = inside.merge(published, on=keys, how="left")
    missing = int(joined["append_ms"].isna().sum())
    latencies = (joined["append_ms"] - joined["sent_ms"]).dropna().to_numpy(dtype=np.float64)
    return latencies, missing, unexplained


# --- report -------------------------------------------------------------------------------


def ms(value: float, spec: str = ".1f") -> str:
    return "-" if math.isnan(value) else f"{value:{spec}}"


def bound(value_ms: float) -> str:
    """A bucket's upper bound, as the quantile it holds is at or below it."""
    return "-" if math.isnan(value_ms) else f"{LE} {value_ms:g}"


LATENCY_HEAD = """\
| level | target ticks/s | sent ticks/s | bars | p50 ms | p99 ms | p99.9 ms | max ms | \
Kafka hop p50 / p99 ms | p99 / hop p99 | loop lag p99 ms | reads | read p50 / p99 ms | \
read p99, repeat reads ms |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"""

LOAD_HEAD = """\
| level | CPU %: service / producer / broker / others | CPU µs per tick: service / producer | \
records per batch | batch mean ms | batch p99 ms | loop lag max ms | longest GC pause ms | \
producer's longest wait ms | bars without output |
|---|---|---|---|---|---|---|---|---|---|"""


def latency_row(v: Level) -> str:
    cells = [
        f"{v.pct} %",
        f"{v.target:,.0f}",
        f"{v.sent_rate:,.0f}",
        f"{len(v.latencies_ms):,}",
        ms(v.latency(0.5), ".0f"),
        ms(v.latency(0.99), ".0f"),
        ms(v.latency(0.999), ".0f"),
        ms(float(v.latencies_ms.max()) if len(v.latencies_ms) else math.nan, ".0f"),
        f"{ms(v.hop(0.5), '.0f')} / {ms(v.hop(0.99), '.0f')}",
        ms(v.latency(0.99) / v.hop(0.99) if v.hop(0.99) else math.nan, ".1f"),
        bound(v.loop_lag_ms()),
        f"{len(v.window.reads):,}" + (f" ({v.bad_reads} not 200)" if v.bad_reads else ""),
        f"{ms(v.reads_ms(0.5))} / {ms(v.reads_ms(0.99))}",
        ms(v.reads_ms(0.99, first=False)),
    ]
    return "| " + " | ".join(cells) + " |"


def load_row(v: Level) -> str:
    cells = [
        f"{v.pct} %",
        " / ".join(ms(v.cpu_pct(k), ".0f") for k in ("service", "producer", "broker", "others")),
        " / ".join(ms(v.cpu_us_per_tick(name), ".2f") for name in ("service", "producer")),
        ms(v.records_per_batch, ",.0f"),
        ms(v.batch_mean_ms),
        bound(v.bucket_ms(BATCH_SECONDS, 0.99)),
        bound(v.loop_lag_ms(1.0)),
        bound(v.bucket_ms(GC_PAUSE, 1.0)),
        ms(v.paced.largest_gap_ms, ".0f"),
        f"{v.missing:,}",
    ]
    return "| " + " | ".join(cells) + " |"


def tables(levels: list[Level]) -> str:
    return (
        f"{LATENCY_HEAD}\n"
        + "\n".join(map(latency_row, levels))
        + f"\n\n{LOAD_HEAD}\n"
        + "\n".join(map(load_row, levels))
    )


def goals(levels: list[Level]) -> list[tuple[str, bool]]:
    half = next(v for v in levels if v.pct == 50)
    p99, lag = half.latency(0.99), half.loop_lag_ms()
    return [
        (f"p99 at 50 % {LE} {GOAL_P99_MS:g} ms (measured {ms(p99, '.0f')} ms)", p99 <= GOAL_P99_MS),
        (
            f"event-loop lag p99 at 50 % {LE} {GOAL_LOOP_LAG_P99_MS:g} ms (measured: in the"
            f" bucket up to {ms(lag, 'g')} ms)",
            lag <= GOAL_LOOP_LAG_P99_MS,
        ),
    ]


def notes(levels: list[Level]) -> str:
    half = next(v for v in levels if v.pct == 50)
    out = [
        f"- The way in alone (the Kafka hop) at 50 %: p50 {ms(half.hop(0.5), '.0f')} ms,"
        f" p99 {ms(half.hop(0.99), '.0f')} ms; the service's p50 is"
        f" {ms(half.latency(0.5) - half.hop(0.5), '.0f')} ms above it.",
        f"- Per tick, the paced producer costs {ms(half.cpu_us_per_tick('producer'), '.2f')} µs"
        f" of CPU and the service {ms(half.cpu_us_per_tick('service'), '.2f')} µs (at 50 %):"
        f" on these {os.cpu_count()} cores the producer and the broker take about as much CPU"
        " as the service, which had the cores nearly to itself when its maximum was measured.",
    ]
    for v in levels:
        if v.sent_rate < 0.98 * v.target:
            out.append(
                f"- At {v.pct} % the producer sent {v.sent_rate / v.target:.1%} of the target"
                f" and a due tick waited up to {v.paced.largest_gap_ms:,.0f} ms for its send:"
                " the cores were saturated, so that level measures a machine out of CPU."
            )
    return "\n".join(out)


def result_line(max_rate: float, levels: list[Level]) -> str:
    fields = [f"max_ticks_per_s={max_rate:.0f}"]
    for v in levels:
        fields += [
            f"p50_ms_at_{v.pct}={ms(v.latency(0.5), '.0f')}",
            f"p99_ms_at_{v.pct}={ms(v.latency(0.99), '.0f')}",
            f"p999_ms_at_{v.pct}={ms(v.latency(0.999), '.0f')}",
            f"loop_lag_p99_ms_at_{v.pct}={ms(v.loop_lag_ms(), 'g')}",
            f"read_p50_ms_at_{v.pct}={ms(v.reads_ms(0.5))}",
            f"read_p99_ms_at_{v.pct}={ms(v.reads_ms(0.99))}",
            f"hop_p99_ms_at_{v.pct}={ms(v.hop(0.99), '.0f')}",
            f"sent_ratio_at_{v.pct}={v.sent_rate / v.target:.3f}",
        ]
    return "RESULT latency " + " ".join(fields)


def times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def command() -> str:
    return " ".join(["python", "bench/latency.py", *sys.argv[1:]])


@dataclass(frozen=True)
class Report:
    plan: Plan
    max_ticks: int
    drains: list[float]
    levels: list[Level]
    elapsed_s: float
    load: str
    revision: str = field(default_factory=revision)

    @property
    def max_rate(self) -> float:
        return statistics.median(self.drains)

    def generated(self) -> str:
        """This run's part of the section; the method is described by hand around it."""
        met = "\n".join(f"- {'met' if ok else '**not met**'}: {t}" for t, ok in goals(self.levels))
        drains = ", ".join(f"{r:,.0f}" for r in self.drains)
        return f"""\
- command: `{command()}` (or `make bench-latency`)
- when: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {self.elapsed_s / 60:.1f} min
- service: {self.revision}
- machine: {machine()}
- load average (1, 5, 15 min): {self.load}

Baseline: a backlog of {self.max_ticks:,} {self.plan.fmt} ticks drained\
 {times(len(self.drains))}: {drains} ticks/s. The maximum ingest rate, their median:
**{self.max_rate:,.0f} ticks/s**.

{tables(self.levels)}

Goals (at 50 %):
{met}

What the figures say:
{notes(self.levels)}

```
{result_line(self.max_rate, self.levels)}
```
"""


# --- main -------------------------------------------------------------------------------


async def baseline(
    topics: Topics, bootstrap: str, dead_letter: str, plan: Plan, ticks: int, runs: int
) -> list[float]:
    backlog = await topics.create("lat-backlog", PARTITIONS)
    sink = await topics.create("lat-drain-out", PARTITIONS)
    started = time.perf_counter()
    await fill_backlog(bootstrap, backlog, plan.fmt, ticks)
    print(
        f"backlog: {ticks:,} {plan.fmt} ticks in {time.perf_counter() - started:.1f}s", flush=True
    )
    rates = []
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        for i in range(runs):
            rates.append(
                await drain_rate(Wiring(bootstrap, backlog, dead_letter, sink), ticks, Path(tmp))
            )
            print(f"  drain {i + 1}: {rates[-1]:,.0f} ticks/s", flush=True)
    return rates


def show(v: Level) -> str:
    return (
        f"  {v.pct} %: sent {v.sent_rate:,.0f} ticks/s, {len(v.latencies_ms):,} bars,"
        f" p50/p99/p99.9 {ms(v.latency(0.5), '.0f')}/{ms(v.latency(0.99), '.0f')}/"
        f"{ms(v.latency(0.999), '.0f')} ms, loop lag p99 {bound(v.loop_lag_ms())} ms,"
        f" read p50/p99 {ms(v.reads_ms(0.5))}/{ms(v.reads_ms(0.99))} ms,"
        f" CPU service {ms(v.cpu_pct('service'), '.0f')} % producer"
        f" {ms(v.cpu_pct('producer'), '.0f')} % broker {ms(v.cpu_pct('broker'), '.0f')} %"
        f" others {ms(v.cpu_pct('others'), '.0f')} %"
        + (f", {v.missing} bars without output" if v.missing else "")
        + (f", {v.unexplained} outputs no tick closed" if v.unexplained else "")
    )


async def main(args: argparse.Namespace) -> None:
    logging.getLogger("aiokafka").setLevel(logging.ERROR)  # transient coordinator noise
    plan = Plan(args.format, args.warm_s, args.measure_s, args.read_rate, args.hop_s)
    started, load_before = time.perf_counter(), load_average()
    with local_broker() as bootstrap:
        async with Topics(bootstrap) as topics:
            dead_letter = await topics.create("lat-dlq", 1)
            drains = await baseline(
                topics, bootstrap, dead_letter, plan, args.max_ticks, args.max_runs
            )
            max_rate = statistics.median(drains)
            levels = []
            for fraction in FRACTIONS:
                rate = fraction * max_rate
                print(f"level {fraction:.0%}: {rate:,.0f} ticks/s ...", flush=True)
                levels.append(await run_level(topics, bootstrap, dead_letter, fraction, rate, plan))
                print(show(levels[-1]), flush=True)
    load = f"{load_before} at the start, {load_average()} at the end"
    report = Report(plan, args.max_ticks, drains, levels, time.perf_counter() - started, load)
    print(f"\nmaximum ingest rate {report.max_rate:,.0f} ticks/s\n\n{tables(levels)}\n")
    for text, ok in goals(levels):
        print(f"goal {'met' if ok else 'NOT met'}: {text}")
    print(f"elapsed {report.elapsed_s / 60:.1f} min")
    if args.write:
        write_generated(SECTION, "bench/latency.py", report.generated(), args.results)
    print(result_line(report.max_rate, levels))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--format", choices=("json", "binary"), default="json", help="one tick per record"
    )
    p.add_argument("--warm-s", type=float, default=WARM_S, help="per level, before the window")
    p.add_argument("--measure-s", type=float, default=MEASURE_S, help="the window, per level")
    p.add_argument("--hop-s", type=float, default=HOP_S, help="the Kafka hop's window")
    p.add_argument("--read-rate", type=float, default=READ_RATE, help="API reads per second")
    p.add_argument("--max-ticks", type=int, default=MAX_TICKS, help="the backlog for the maximum")
    p.add_argument("--max-runs", type=int, default=MAX_RUNS, help="drains of the backlog")
    p.add_argument("--results", type=Path, default=RESULTS, help="the file to write")
    p.add_argument("--no-write", dest="write", action="store_false", help="leave RESULTS.md")
    p.add_argument("--pace", help=argparse.SUPPRESS)  # the paced producer's own process
    return p.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.pace:
        uvloop.run(pace(PaceSpec(**json.loads(arguments.pace))))
    else:
        uvloop.run(main(arguments))
