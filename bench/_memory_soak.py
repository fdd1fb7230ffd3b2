"""One run of bench/memory.py's soak: `ticksmith produce` streaming into `ticksmith run`
(each a process) on fresh topics, while this process samples the service's RSS, scrapes
its /metrics and reads its API in (cold, hot) pairs. Also the part-by-part breakdown,
bench/_memory_parts.py in a fresh process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil

from _broker import ROOT, Topics
from _scrape import Scrape, delta, delta_by, get_text, parse, scrape
from _service import Service, Wiring, clean_env, free_port, service, service_env, spawn, stop, tail
from ticksmith.produce.market import symbol_names

MiB = 1024 * 1024
GiB = 1024 * MiB
PARTITIONS = 6
RSS_EVERY_S = 0.5
SCRAPE_EVERY_S = 10.0
UNBOUNDED = 64 * GiB  # the strong run's cache and monitor budgets: never reached
PATH = "/v1/symbols/{}/indicators?limit=200"
SERIES = (  # scraped every SCRAPE_EVERY_S; label sets kept apart
    "ticksmith_cache_evictions_total",
    "ticksmith_memory_evictions_total",
    "ticksmith_cache_recomputes_total",
    "ticksmith_cache_reference_errors_total",
    "ticksmith_cache_hits_total",
    "ticksmith_cache_misses_total",
    "ticksmith_cache_entries",
    "ticksmith_cache_bytes",
    "ticksmith_store_bytes",
    "ticksmith_store_symbols",
    "ticksmith_memory_pressure_level",
    "ticksmith_ticks_consumed_total",
    "ticksmith_consumer_lag_messages",
    "ticksmith_gc_collections_total",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
)


@dataclass(frozen=True)
class Plan:
    minutes: float
    symbols: int
    rate: int  # ticks/s produced
    batch_size: int
    budget_mib: int
    cache_mib: int
    ticks_per_symbol: int
    history_bars: int
    interval_ms: int
    read_rate: float  # read pairs per second, at most
    readers: int  # pairs in flight, at most
    cap_mib: int  # the strong run is killed above this RSS
    seed: int

    @property
    def seconds(self) -> float:
        return self.minutes * 60


def settings(plan: Plan, mode: str) -> dict[str, str]:
    """The service's settings in a run of `mode` ("proxy" or "strong")."""
    common = {
        "TICKSMITH_WINDOW__TICKS_PER_SYMBOL": str(plan.ticks_per_symbol),
        "TICKSMITH_BARS__HISTORY_BARS": str(plan.history_bars),
        "TICKSMITH_BARS__INTERVALS_MS": f"[{plan.interval_ms}]",
    }
    if mode == "proxy":
        return common | {
            "TICKSMITH_MONITOR__BUDGET_BYTES": str(plan.budget_mib * MiB),
            "TICKSMITH_CACHE__BUDGET_BYTES": str(plan.cache_mib * MiB),
        }
    return common | {  # eviction disabled: nothing is ever dropped, by the cache or the monitor
        "TICKSMITH_MONITOR__BUDGET_BYTES": str(UNBOUNDED),
        "TICKSMITH_CACHE__BUDGET_BYTES": str(UNBOUNDED),
        "TICKSMITH_MONITOR__PSI_SOME_SOFT_RATIO": "0",
        "TICKSMITH_MONITOR__PSI_FULL_HARD_RATIO": "0",
    }


def produce_args(plan: Plan) -> list[str]:
    return [
        "-m",
        "ticksmith",
        "produce",
        f"--symbols={plan.symbols}",
        f"--rate={plan.rate}",
        f"--duration={plan.seconds}",
        "--format=binary-batch",
        f"--batch-size={plan.batch_size}",
        f"--seed={plan.seed}",
        "--quiet",
    ]


@dataclass(frozen=True)
class Read:
    at: float  # seconds since streaming began
    kind: str  # "cold" | "hot"
    ms: float
    status: int


@dataclass
class Run:
    mode: str
    plan: Plan
    rss: list[tuple[float, int]] = field(default_factory=list)  # (s since streaming, bytes)
    scrapes: list[Scrape] = field(default_factory=list)
    reads: list[Read] = field(default_factory=list)
    capped: bool = False
    idle_rss: int = 0  # after start-up, before any tick
    streamed_s: float = 0.0
    produced: int = 0
    log_tail: str = ""
    transitions: list[str] = field(default_factory=list)
    cpu_s: float = 0.0  # the service's CPU time over the streaming window
    last_text: str = ""  # the last /metrics page, for --dump

    @property
    def peak_rss(self) -> int:
        return max((b for _, b in self.rss), default=0)

    @property
    def first(self) -> Scrape:
        return self.scrapes[0]

    @property
    def last(self) -> Scrape:
        return self.scrapes[-1]

    def delta(self, name: str, **labels: str) -> float:
        return delta(self.first, self.last, name, **labels)

    def delta_by(self, name: str, label: str) -> dict[str, float]:
        return delta_by(self.first, self.last, name, label)

    def peak(self, name: str) -> float:
        return max(s.total(name) for s in self.scrapes)

    @property
    def minutes(self) -> float:
        return self.streamed_s / 60

    def per_min(self, name: str) -> float:
        return self.delta(name) / self.minutes if self.minutes else 0.0

    def latencies(self, kind: str | None = None) -> list[float]:
        return [r.ms for r in self.reads if r.status == 200 and kind in (None, r.kind)]

    def rss_at(self, fraction: float) -> int:
        """RSS at this fraction of the streaming window (the sample just before)."""
        t = self.streamed_s * fraction
        before = [b for at, b in self.rss if at <= t]
        return before[-1] if before else 0


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def sample_rss(run: Run, svc: Service, t0: float, stop: asyncio.Event) -> None:
    """RSS every 0.5 s; the strong run is killed above the safety cap."""
    proc = psutil.Process(svc.proc.pid)
    while not stop.is_set():
        try:
            rss = proc.memory_info().rss
        except psutil.NoSuchProcess:
            return
        run.rss.append((time.monotonic() - t0, rss))
        if rss > run.plan.cap_mib * MiB:
            run.capped = True
            svc.kill()
            stop.set()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RSS_EVERY_S)


async def scrape_every(run: Run, svc: Service, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            run.scrapes.append(await scrape(svc.http, svc.base, SERIES))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SCRAPE_EVERY_S)


async def read_pairs(
    run: Run, http: aiohttp.ClientSession, base: str, t0: float, stop: asyncio.Event
) -> None:
    """`readers` tasks reading (cold, hot) pairs of a shuffled cycle over all symbols,
    at most `read_rate` pairs a second (no bursts to catch up when the service lags)."""
    plan = run.plan
    names = symbol_names(plan.symbols)
    rng = random.Random(plan.seed)
    cycle: list[str] = []
    next_at = [time.monotonic()]

    def next_symbol() -> str:
        if not cycle:
            cycle.extend(rng.sample(names, len(names)))
        return cycle.pop()

    async def one(symbol: str, kind: str) -> None:
        started = time.perf_counter()
        async with http.get(base + PATH.format(symbol)) as response:
            await response.read()
            status = response.status
        ms = (time.perf_counter() - started) * 1000
        run.reads.append(Read(time.monotonic() - t0, kind, ms, status))

    async def reader() -> None:
        while not stop.is_set():
            now = time.monotonic()
            wait = next_at[0] - now
            next_at[0] = max(next_at[0], now) + 1 / plan.read_rate
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
                if stop.is_set():
                    return
            symbol = next_symbol()
            try:
                await one(symbol, "cold")
                await one(symbol, "hot")
            except aiohttp.ClientError:
                if not stop.is_set():
                    raise

    await asyncio.gather(*(reader() for _ in range(plan.readers)))


async def wait_symbols(svc: Service, want: int, limit_s: float, stop: asyncio.Event) -> None:
    """Until the store holds (nearly) every symbol, so reads are not 404s."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and not stop.is_set():
        with contextlib.suppress(aiohttp.ClientError):
            held = await scrape(svc.http, svc.base, SERIES)
            if held.total("ticksmith_store_symbols") >= 0.99 * want:
                return
        await asyncio.sleep(1)


async def one_run(bootstrap: str, plan: Plan, mode: str) -> Run:
    """Fresh ticks, dead-letter and output topics (deleted after) and a fresh group."""
    async with Topics(bootstrap) as topics:
        wiring = Wiring(
            bootstrap,
            await topics.create("mem-ticks", PARTITIONS),
            await topics.create("mem-dlq", 1),
            await topics.create("mem-out", PARTITIONS),
        )
        return await _one_run(Run(mode, plan), wiring)


async def _one_run(run: Run, wiring: Wiring) -> Run:
    plan, mode = run.plan, run.mode
    env = service_env(wiring, free_port(), f"bench-memory-{mode}", settings(plan, mode))
    producer_env = clean_env() | {
        "TICKSMITH_KAFKA__BOOTSTRAP_SERVERS": wiring.bootstrap,
        "TICKSMITH_KAFKA__TICKS_TOPIC": wiring.ticks,
    }
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        service_log, producer_log = Path(tmp) / "service.log", Path(tmp) / "producer.log"
        try:
            async with service(env, service_log, plan.readers + 2, timeout_s=120) as svc:
                await asyncio.sleep(2)
                run.idle_rss = psutil.Process(svc.proc.pid).memory_info().rss
                with producer_log.open("w") as plog:
                    t0 = time.monotonic()
                    producer = await spawn(produce_args(plan), producer_env, plog)
                    try:
                        await stream(run, svc, t0, producer)
                    finally:
                        await stop(producer)
        finally:
            run.log_tail = tail(service_log)
            lines = service_log.read_text(errors="replace").splitlines()
            run.transitions = [ln for ln in lines if "memory pressure" in ln]
            run.produced = produced(producer_log)
    return run


async def stream(run: Run, svc: Service, t0: float, producer: asyncio.subprocess.Process) -> None:
    """From the producer's start to its end: sample, scrape, read."""
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(sample_rss(run, svc, t0, stop)),
        asyncio.create_task(scrape_every(run, svc, stop)),
    ]

    async def readers() -> None:
        await wait_symbols(svc, run.plan.symbols, 30, stop)
        await read_pairs(run, svc.http, svc.base, t0, stop)

    tasks.append(asyncio.create_task(readers()))
    ended = asyncio.create_task(producer.wait())
    died = asyncio.create_task(svc.proc.wait())
    capped = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({ended, died, capped, *tasks}, return_when=asyncio.FIRST_COMPLETED)
    run.streamed_s = time.monotonic() - t0
    if not run.capped:  # a last scrape at the end of the window
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            text = await get_text(svc.http, f"{svc.base}/metrics")
            run.scrapes.append(parse(text, time.monotonic(), SERIES))
            run.last_text = text
    stop.set()
    for task in (*tasks, capped):
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception():
            raise task.exception()  # type: ignore[misc]
    ended.cancel()
    died.cancel()
    if died in done and not run.capped:
        raise RuntimeError(f"{run.mode}: the service exited during the soak")
    if len(run.scrapes) >= 2:
        run.cpu_s = run.delta("process_cpu_seconds_total")


def produced(log: Path) -> int:
    for line in log.read_text(errors="replace").splitlines()[::-1]:
        if "produced" in line and "ticks to" in line:
            return int(line.split("produced", 1)[1].split()[0])
    return 0


async def measure_parts(plan: Plan) -> dict[str, float]:
    """bench/_memory_parts.py in a fresh process with the soak's settings."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bench" / "_memory_parts.py"),
        f"--symbols={plan.symbols}",
        f"--rate={plan.rate}",
        f"--seconds={plan.seconds:.0f}",
        f"--ticks-per-symbol={plan.ticks_per_symbol}",
        f"--history-bars={plan.history_bars}",
        f"--interval-ms={plan.interval_ms}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"_memory_parts.py exited {proc.returncode}:\n{err.decode()[-3000:]}")
    parts: dict[str, float] = json.loads(out)
    return parts
