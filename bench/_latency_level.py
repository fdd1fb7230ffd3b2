"""One level of bench/latency.py inside the service: a window of measurement (scrapes,
CPU, API reads at a steady rate) and what it gives per level, plus the drain of the
baseline's backlog."""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import numpy as np
import numpy.typing as npt

from _latency_pace import SYMBOLS, TIMEOUT_S, Paced
from _scrape import Scrape, bucket_quantile, delta, scrape
from _service import Service, cpu_seconds
from ticksmith.produce.market import symbol_names
from ticksmith.produce.writer import Format

READS_IN_FLIGHT = 32
READ_PATH = "/v1/symbols/{}/indicators?limit=100"
SCRAPE_S = 0.1  # /metrics sampling while the backlog drains
LOOP_LAG = "ticksmith_event_loop_lag_seconds"
BATCH_SECONDS = "ticksmith_batch_processing_seconds"
BATCH_RECORDS = "ticksmith_batch_records"
GC_PAUSE = "ticksmith_gc_pause_seconds"
TICKS_CONSUMED = "ticksmith_ticks_consumed_total"


async def ticks_until(svc: Service, done: Callable[[float], bool], every_s: float) -> Scrape:
    """Scrape every `every_s` until `done(ticks consumed)`."""
    deadline = time.monotonic() + TIMEOUT_S
    while not done((got := await scrape(svc.http, svc.base)).total(TICKS_CONSUMED)):
        svc.alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"stuck at {got.total(TICKS_CONSUMED):,.0f} ticks")
        await asyncio.sleep(every_s)
    return got


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
    first, cpu_first = await scrape(svc.http, svc.base), cpu_seconds(pids)
    stop, reads = asyncio.Event(), list[Read]()
    reader = asyncio.create_task(read_steadily(svc.http, svc.base, plan.read_rate, stop, reads))
    await asyncio.sleep(max(0.0, started_at + plan.warm_s + plan.measure_s - time.monotonic()))
    last, cpu_last = await scrape(svc.http, svc.base), cpu_seconds(pids)
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
