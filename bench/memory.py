"""Memory soak: peak RSS of the service under a byte budget, proxy cache against a
plain strong-reference cache, with readers recomputing what was reclaimed.

Two runs, one after the other, each with fresh topics and a fresh consumer group
on the local broker (deploy/kafka/broker.sh on BENCH_KAFKA_PORT, 19792 here,
started and stopped by this script only if it was not running):

- ``proxy``: the service as shipped, with ``monitor.budget_bytes`` = the budget
  (512 MiB) and a strong-tier ``cache.budget_bytes`` (--cache-mib);
- ``strong``: the same service with eviction disabled: the cache budget and the
  monitor budget set to 64 GiB and the PSI signals off, so every frame the
  readers ever computed stays strongly held (a plain strong-reference cache).

In each run, ``ticksmith produce`` (a separate process; paced, so event time
follows the wall clock) streams --symbols symbols at --rate ticks/s for --minutes
into a 6-partition topic, and ``ticksmith run`` (another process) consumes it.
Readers in this process read ``GET /v1/symbols/{symbol}/indicators?limit=200``
in pairs: a **cold** read of the next symbol of a shuffled cycle over all symbols
(not read for a long time: its frame is missing, reclaimed or stale, so the read
recomputes), then at once a **hot** read of the same symbol (a cache hit unless a
bar closed in between). The cache's hit and recompute counters check that split.
The service's RSS is sampled every 0.5 s (psutil) and /metrics every 10 s.

Bars default to 5 s and the store to 64 ticks and 64 bars per symbol: with
10,000 symbols, 1 s bars cost the service more CPU than one core, and a store of
the default size does not fit the budget (see the section in RESULTS.md).

After the runs, bench/_memory_parts.py (a fresh process, no Kafka) breaks the
memory down part by part with the same settings (--no-parts skips it).

    .venv/bin/python bench/memory.py                     (or: make bench-memory)
    .venv/bin/python bench/memory.py --minutes 0.5 --symbols 500 --no-write   (smoke)

About 15 minutes with the defaults. Ends with one ``RESULT memory ...`` line and
rewrites the generated block of the ``## memory`` section of bench/RESULTS.md (unless
--no-write); the method prose around the block is kept there by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import re
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import psutil
import uvloop
from prometheus_client.parser import text_string_to_metric_families

os.environ.setdefault("BENCH_KAFKA_PORT", "19792")  # before _broker reads it

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from _broker import ROOT, local_broker
from _results import load_average, machine, revision, write_generated
from ticksmith.produce.market import symbol_names

MiB = 1024 * 1024
TIMES = "\N{MULTIPLICATION SIGN}"
GiB = 1024 * MiB
PARTITIONS = 6
RSS_EVERY_S = 0.5
SCRAPE_EVERY_S = 10.0
UNBOUNDED = 64 * GiB  # the strong run's cache and monitor budgets: never reached
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## memory"
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


# --- configuration ------------------------------------------------------------------------


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


def service_env(plan: Plan, mode: str, topics: Topics, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKSMITH_")}
    env |= {
        "TICKSMITH_KAFKA__BOOTSTRAP_SERVERS": topics.bootstrap,
        "TICKSMITH_KAFKA__TICKS_TOPIC": topics.ticks,
        "TICKSMITH_KAFKA__DEAD_LETTER_TOPIC": topics.dlq,
        "TICKSMITH_KAFKA__OUTPUT_TOPIC": topics.output,
        "TICKSMITH_KAFKA__GROUP_ID": f"bench-memory-{mode}-{uuid.uuid4().hex[:8]}",
        "TICKSMITH_HTTP__PORT": str(port),
        "TICKSMITH_WINDOW__TICKS_PER_SYMBOL": str(plan.ticks_per_symbol),
        "TICKSMITH_BARS__HISTORY_BARS": str(plan.history_bars),
        "TICKSMITH_BARS__INTERVALS_MS": f"[{plan.interval_ms}]",
    }
    if mode == "proxy":
        env |= {
            "TICKSMITH_MONITOR__BUDGET_BYTES": str(plan.budget_mib * MiB),
            "TICKSMITH_CACHE__BUDGET_BYTES": str(plan.cache_mib * MiB),
        }
    else:  # eviction disabled: nothing is ever dropped, by the cache or the monitor
        env |= {
            "TICKSMITH_MONITOR__BUDGET_BYTES": str(UNBOUNDED),
            "TICKSMITH_CACHE__BUDGET_BYTES": str(UNBOUNDED),
            "TICKSMITH_MONITOR__PSI_SOME_SOFT_RATIO": "0",
            "TICKSMITH_MONITOR__PSI_FULL_HARD_RATIO": "0",
        }
    return env


def producer_env(topics: Topics) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKSMITH_")}
    return env | {
        "TICKSMITH_KAFKA__BOOTSTRAP_SERVERS": topics.bootstrap,
        "TICKSMITH_KAFKA__TICKS_TOPIC": topics.ticks,
    }


@dataclass(frozen=True)
class Topics:
    """One run's ticks, dead-letter and output topics: fresh names, deleted after the run."""

    bootstrap: str
    ticks: str
    dlq: str
    output: str

    @classmethod
    @contextlib.asynccontextmanager
    async def fresh(cls, bootstrap: str) -> AsyncIterator[Topics]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        tag = uuid.uuid4().hex[:8]
        names = [f"bench-mem-{kind}-{tag}" for kind in ("ticks", "dlq", "out")]
        counts = dict(zip(names, (PARTITIONS, 1, PARTITIONS), strict=True))
        try:
            await admin.create_topics(
                [NewTopic(n, p, replication_factor=1) for n, p in counts.items()]
            )
            try:
                await _wait_leaders(admin, counts)
                yield cls(bootstrap, *names)
            finally:
                await admin.delete_topics(names)
        finally:
            await admin.close()


async def _wait_leaders(admin: AIOKafkaAdminClient, counts: dict[str, int]) -> None:
    deadline = time.monotonic() + 30
    while True:
        described = await admin.describe_topics(list(counts))
        led = {
            d["topic"]: sum(p.get("leader", -1) >= 0 for p in d.get("partitions", []))
            for d in described
        }
        if all(led.get(n) == c for n, c in counts.items()):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"topics without leaders after 30 s: {led}")
        await asyncio.sleep(0.1)


# --- measurements -------------------------------------------------------------------------


@dataclass(frozen=True)
class Read:
    at: float  # seconds since streaming began
    kind: str  # "cold" | "hot"
    ms: float
    status: int


@dataclass
class Scrape:
    at: float
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float]

    def get(self, name: str, **labels: str) -> float:
        """Sum over every label set that has `labels`."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.values.items() if n == name and want <= set(ls))

    def by(self, name: str, label: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for (n, ls), v in self.values.items():
            if n == name:
                key = dict(ls).get(label, "")
                out[key] = out.get(key, 0.0) + v
        return out


def parse_metrics(text: str, at: float) -> Scrape:
    values = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name in SERIES:
                values[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    return Scrape(at, values)


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
        return self.last.get(name, **labels) - self.first.get(name, **labels)

    def delta_by(self, name: str, label: str) -> dict[str, float]:
        a, b = self.first.by(name, label), self.last.by(name, label)
        return {k: v - a.get(k, 0.0) for k, v in sorted(b.items()) if v - a.get(k, 0.0)}

    def peak(self, name: str) -> float:
        return max(s.get(name) for s in self.scrapes)

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


# --- one run ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def spawn(args: list[str], env: dict[str, str], log: object) -> asyncio.subprocess.Process:
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


async def get_text(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as response:
        response.raise_for_status()
        return await response.text()


async def wait_ready(
    http: aiohttp.ClientSession, base: str, proc: asyncio.subprocess.Process, log: Path
) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise RuntimeError(f"service exited {proc.returncode}:\n{tail(log)}")
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(f"{base}/readyz") as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"service not ready after 120 s:\n{tail(log)}")


def tail(path: Path, n: int = 4000) -> str:
    return path.read_text(errors="replace")[-n:]


async def sample_rss(run: Run, pid: int, t0: float, stop: asyncio.Event) -> None:
    """RSS every 0.5 s; the strong run is killed above the safety cap."""
    proc = psutil.Process(pid)
    while not stop.is_set():
        try:
            rss = proc.memory_info().rss
        except psutil.NoSuchProcess:
            return
        run.rss.append((time.monotonic() - t0, rss))
        if rss > run.plan.cap_mib * MiB:
            run.capped = True
            proc.kill()
            stop.set()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RSS_EVERY_S)


async def scrape_every(
    run: Run, http: aiohttp.ClientSession, base: str, t0: float, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            text = await get_text(http, f"{base}/metrics")
            run.scrapes.append(parse_metrics(text, time.monotonic() - t0))
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


async def wait_symbols(
    http: aiohttp.ClientSession, base: str, want: int, limit_s: float, stop: asyncio.Event
) -> None:
    """Until the store holds (nearly) every symbol, so reads are not 404s."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and not stop.is_set():
        with contextlib.suppress(aiohttp.ClientError):
            held = parse_metrics(await get_text(http, f"{base}/metrics"), 0)
            if held.get("ticksmith_store_symbols") >= 0.99 * want:
                return
        await asyncio.sleep(1)


async def one_run(bootstrap: str, plan: Plan, mode: str) -> Run:
    async with Topics.fresh(bootstrap) as topics:
        return await _one_run(Run(mode, plan), topics)


async def _one_run(run: Run, topics: Topics) -> Run:
    plan, mode = run.plan, run.mode
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        service_log, producer_log = Path(tmp) / "service.log", Path(tmp) / "producer.log"
        with service_log.open("w") as slog, producer_log.open("w") as plog:
            service = await spawn(
                ["-m", "ticksmith", "run"], service_env(plan, mode, topics, port), slog
            )
            producer: asyncio.subprocess.Process | None = None
            timeout = aiohttp.ClientTimeout(total=120)
            connector = aiohttp.TCPConnector(limit=plan.readers + 2)
            try:
                async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
                    await wait_ready(http, base, service, service_log)
                    await asyncio.sleep(2)
                    run.idle_rss = psutil.Process(service.pid).memory_info().rss
                    produce = [
                        "produce",
                        f"--symbols={plan.symbols}",
                        f"--rate={plan.rate}",
                        f"--duration={plan.seconds}",
                        "--format=binary-batch",
                        f"--batch-size={plan.batch_size}",
                        f"--seed={plan.seed}",
                        "--quiet",
                    ]
                    t0 = time.monotonic()
                    producer = await spawn(
                        ["-m", "ticksmith", *produce], producer_env(topics), plog
                    )
                    await stream(run, http, base, t0, service, producer)
            finally:
                if producer is not None:
                    await stop_process(producer)
                code = await stop_process(service)
            run.log_tail = tail(service_log)
            lines = service_log.read_text(errors="replace").splitlines()
            run.transitions = [ln for ln in lines if "memory pressure" in ln]
            run.produced = produced(producer_log)
            if code != 0 and not run.capped:
                raise RuntimeError(f"{mode}: service exited {code}:\n{run.log_tail}")
    return run


async def stream(
    run: Run,
    http: aiohttp.ClientSession,
    base: str,
    t0: float,
    service: asyncio.subprocess.Process,
    producer: asyncio.subprocess.Process,
) -> None:
    """From the producer's start to its end: sample, scrape, read."""
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(sample_rss(run, service.pid, t0, stop)),
        asyncio.create_task(scrape_every(run, http, base, t0, stop)),
    ]

    async def readers() -> None:
        await wait_symbols(http, base, run.plan.symbols, 30, stop)
        await read_pairs(run, http, base, t0, stop)

    tasks.append(asyncio.create_task(readers()))
    ended = asyncio.create_task(producer.wait())
    died = asyncio.create_task(service.wait())
    capped = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({ended, died, capped, *tasks}, return_when=asyncio.FIRST_COMPLETED)
    run.streamed_s = time.monotonic() - t0
    if not run.capped:  # a last scrape at the end of the window
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            text = await get_text(http, f"{base}/metrics")
            run.scrapes.append(parse_metrics(text, run.streamed_s))
            run.last_text = text
    stop.set()
    for task in (*tasks, capped):
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception():
            raise task.exception()  # type: ignore[misc]
    for task in (ended, died):
        task.cancel()
    if died in done and not run.capped:
        raise RuntimeError(f"{run.mode}: the service exited during the soak")
    if len(run.scrapes) >= 2:
        run.cpu_s = run.delta("process_cpu_seconds_total")


def produced(log: Path) -> int:
    for line in log.read_text(errors="replace").splitlines()[::-1]:
        if "produced" in line and "ticks to" in line:
            return int(line.split("produced", 1)[1].split()[0])
    return 0


# --- report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    proxy: Run
    strong: Run
    elapsed_s: float
    load: str
    parts: dict[str, float] | None = None

    @property
    def budget(self) -> int:
        return self.proxy.plan.budget_mib * MiB

    @property
    def within(self) -> bool:
        return self.proxy.peak_rss <= 1.1 * self.budget

    def result_line(self) -> str:
        p, s = self.proxy, self.strong
        budget = p.plan.budget_mib
        peak = p.peak_rss / MiB
        stale = p.delta_by("ticksmith_cache_recomputes_total", "trigger").get("stale", 0.0)
        return (
            f"RESULT memory budget_mib={budget} peak_rss_mib={peak:.1f}"
            f" peak_ratio={peak / budget:.3f} strong_peak_rss_mib={s.peak_rss / MiB:.1f}"
            f" evictions_per_min={p.per_min('ticksmith_cache_evictions_total'):.1f}"
            f" recomputes_per_min={p.per_min('ticksmith_cache_recomputes_total'):.1f}"
            f" read_p50_ms={quantile(p.latencies('hot'), 0.5):.2f}"
            f" read_p99_ms={quantile(p.latencies('hot'), 0.99):.2f}"
            f" read_cold_p99_ms={quantile(p.latencies('cold'), 0.99):.2f}"
            f" stale_recomputes={stale:.0f}"
            f" cpu_s={p.cpu_s:.0f} strong_cpu_s={s.cpu_s:.0f}"
            f" reads_per_s={_reads_per_s(p):.0f}"
            f" symbols={p.plan.symbols} minutes={p.minutes:.2f}"
        )


def fmt_mib(n: float) -> str:
    return f"{n / MiB:,.1f}"


def fmt_by(d: dict[str, float], minutes: float) -> str:
    if not d:
        return "0"
    return ", ".join(f"{k or '-'} {v / minutes:,.1f}" for k, v in d.items())


def rows(o: Outcome) -> list[tuple[str, str, str]]:
    p, s = o.proxy, o.strong
    out: list[tuple[str, str, str]] = []

    def add(name: str, f: object) -> None:
        out.append((name, f(p), f(s)))  # type: ignore[operator]

    budget = p.plan.budget_mib * MiB
    add("streamed (min)", lambda r: f"{r.minutes:.2f}" + (" (killed at the RSS cap)" * r.capped))
    add("ticks produced / consumed", lambda r: f"{r.produced:,} / {_consumed(r):,.0f}")
    add("max consumer lag (records)", lambda r: f"{max_lag(r):,.0f}")
    add("**peak RSS (MiB)**", lambda r: f"**{fmt_mib(r.peak_rss)}**")
    add("peak RSS / 512 MiB budget", lambda r: f"{r.peak_rss / budget:.3f}")
    add("RSS idle, before ticks (MiB)", lambda r: fmt_mib(r.idle_rss))
    add(
        "RSS at 25 / 50 / 75 / 100 % (MiB)",
        lambda r: " / ".join(fmt_mib(r.rss_at(f)) for f in (0.25, 0.5, 0.75, 1.0)),
    )
    add("store bytes at end (MiB)", lambda r: fmt_mib(r.last.get("ticksmith_store_bytes")))
    add("cache bytes, peak / end (MiB)", lambda r: _cache_bytes(r))
    add("cache entries at end", lambda r: f"{r.last.get('ticksmith_cache_entries'):,.0f}")
    add("evictions / min", lambda r: f"{r.per_min('ticksmith_cache_evictions_total'):,.1f}")
    add(
        "  by reason / min",
        lambda r: fmt_by(r.delta_by("ticksmith_cache_evictions_total", "reason"), r.minutes),
    )
    add("recomputes / min", lambda r: f"{r.per_min('ticksmith_cache_recomputes_total'):,.1f}")
    add(
        "  by trigger / min",
        lambda r: fmt_by(r.delta_by("ticksmith_cache_recomputes_total", "trigger"), r.minutes),
    )
    add("cache hits / misses", lambda r: _hits(r))
    add("pressure transitions (log)", lambda r: _transitions(r))
    add("reads: pairs, rate", lambda r: _read_rate(r))
    for kind, label in (("hot", "hot read (no recompute)"), ("cold", "cold read (recompute)")):
        add(f"{label} p50 / p99 ms", lambda r, k=kind: _pq(r.latencies(k)))
    add("all reads p50 / p99 ms", lambda r: _pq(r.latencies()))
    add("service CPU (% of one core)", lambda r: f"{100 * r.cpu_s / r.streamed_s:.0f}")
    return out


def _consumed(r: Run) -> float:
    return r.last.get("ticksmith_ticks_consumed_total")


def max_lag(r: Run) -> float:
    return max(s.get("ticksmith_consumer_lag_messages") for s in r.scrapes)


def _cache_bytes(r: Run) -> str:
    peak, end = r.peak("ticksmith_cache_bytes"), r.last.get("ticksmith_cache_bytes")
    return f"{fmt_mib(peak)} / {fmt_mib(end)}"


def _hits(r: Run) -> str:
    hits, misses = r.delta("ticksmith_cache_hits_total"), r.delta("ticksmith_cache_misses_total")
    hot, cold = len(r.latencies("hot")), len(r.latencies("cold"))
    return f"{hits:,.0f} / {misses:,.0f} (hot reads {hot:,}, cold reads {cold:,})"


def _transitions(r: Run) -> str:
    ups = [ln for ln in r.transitions if "WARNING" in ln]
    return f"{len(ups)} rises, {len(r.transitions) - len(ups)} falls"


def _reads_per_s(r: Run) -> float:
    """Reads (hot and cold) per second over the reading window."""
    window = (r.reads[-1].at - r.reads[0].at) if len(r.reads) > 1 else 0
    return len(r.reads) / window if window else 0.0


def _read_rate(r: Run) -> str:
    ok = r.latencies()
    bad = len(r.reads) - len(ok)
    window = (r.reads[-1].at - r.reads[0].at) if len(r.reads) > 1 else 0
    rate = len(ok) / window if window else 0
    return f"{len(ok) // 2:,} pairs, {rate:.1f} req/s" + (f", {bad} not 200" if bad else "")


def _pq(values: list[float]) -> str:
    return f"{quantile(values, 0.5):.1f} / {quantile(values, 0.99):.1f}"


def table(o: Outcome) -> str:
    head = "| | proxy cache | strong cache (eviction off) |\n|---|---|---|"
    return head + "\n" + "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows(o))


def command() -> str:
    return " ".join([".venv/bin/python", "bench/memory.py", *sys.argv[1:]])


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
    return json.loads(out)


def parts_table(parts: dict[str, float]) -> str:
    m = {k: v / MiB for k, v in parts.items() if k.startswith(("rss", "store_nbytes", "ind"))}
    store_phase = m["rss_store"] - m["rss_import"]
    other = store_phase - m["store_nbytes"] - m["indicator_state_bytes"]
    per_frame, deep = parts["cache_rss_per_frame"], parts["cache_deep_per_frame"]
    frames = (
        f"{parts['frames']:,.0f} indicator frames held ({parts['frame_rows']:.0f} rows,"
        f" {parts['frame_blocks']:.0f} blocks each): RSS growth"
    )
    lines = [
        ("interpreter and libraries (`import ticksmith.app`)", m["rss_import"]),
        ("store phase: RSS growth", store_phase),
        ("of which `Store.nbytes` (= `ticksmith_store_bytes`)", m["store_nbytes"]),
        ("of which indicator engine state (in no metric)", m["indicator_state_bytes"]),
        ("of which the rest: per-symbol objects, freed ring buffers, transients", other),
        (
            "given back by `malloc_trim(0)` after the store phase",
            m["rss_store"] - m["rss_store_trimmed"],
        ),
        (frames, m["rss_cache"] - m["rss_store_trimmed"]),
        (
            "the same frames as `deep_nbytes` counts them (`ticksmith_cache_bytes`)",
            deep * parts["frames"] / MiB,
        ),
        ("RSS change after `evict_to(0)` and `gc.collect()`", m["rss_evicted"] - m["rss_cache"]),
        ("RSS change after `malloc_trim(0)`", m["rss_evicted_trimmed"] - m["rss_evicted"]),
    ]
    body = "\n".join(f"| {name} | {value:,.1f} |" for name, value in lines)
    return f"""| part | MiB |
|---|---|
{body}

Per frame: {per_frame / 1024:.1f} KiB of RSS, {parts["traced_per_frame"] / 1024:.1f} KiB seen by
tracemalloc, {deep / 1024:.1f} KiB counted by `deep_nbytes` ({per_frame / deep:.1f}{TIMES} under).
Store phase CPU: {parts["store_cpu_s_per_s"]:.2f} s per second of ticks (apply, indicators,
output records encoded; no Kafka)."""


def first_soft(r: Run) -> str:
    """What the first soft eviction did to RSS, from the service's own log lines."""
    pattern = re.compile(r"rss (\d+) of budget .* evicted (\d+) cache entries")
    rises = [(i, ln) for i, ln in enumerate(r.transitions) if "-> soft" in ln]
    if not rises:
        return "The monitor never left level none."
    i, line = rises[0]
    found = pattern.search(line)
    after = pattern.search(r.transitions[i + 1]) if i + 1 < len(r.transitions) else None
    if not found:
        return ""
    text = (
        f"The first soft level (RSS {int(found[1]) / MiB:.1f} MiB) evicted {int(found[2]):,}"
        " entries"
    )
    if after:
        text += f"; when it fell back to none, RSS was {int(after[1]) / MiB:.1f} MiB"
    return text + "."


def misread(r: Run) -> str:
    """Hot reads that recomputed after all: misses beyond one per cold read."""
    extra = r.delta("ticksmith_cache_misses_total") - len(r.latencies("cold"))
    hot = len(r.latencies("hot"))
    return f"{max(0, extra):,.0f} of {hot:,} ({100 * max(0, extra) / hot:.1f} %)" if hot else "-"


def generated(o: Outcome) -> str:
    """This run's part of the section; the method is described by hand around it."""
    p, st = o.proxy, o.strong
    plan = p.plan
    answer = "**yes**" if o.within else "**no**"
    parts = f"\n\n{parts_table(o.parts)}" if o.parts else ""
    return f"""\
- command: `{command()}` (or `make bench-memory`)
- when: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {o.elapsed_s / 60:.1f} min in all
- service: {revision()}
- machine: {machine()}
- load average (1, 5, 15 min): {o.load}
- settings: {plan.symbols:,} symbols at {plan.rate:,} ticks/s for {plan.seconds:.0f} s,\
 {plan.batch_size} ticks per record;
  `window.ticks_per_symbol={plan.ticks_per_symbol}`, `bars.history_bars={plan.history_bars}`,\
 `bars.intervals_ms=[{plan.interval_ms}]`;
  budget {plan.budget_mib} MiB, the proxy run's cache {plan.cache_mib} MiB; readers at most\
 {plan.read_rate:g} pairs a second, {plan.readers} in flight
- hot reads that recomputed after all were {misread(p)} in the proxy run and {misread(st)}\
 in the strong run.

{table(o)}

Does the proxy run's peak RSS stay within 1.1 {TIMES} the budget ({1.1 * plan.budget_mib:.0f} MiB)?
{answer}: {fmt_mib(p.peak_rss)} MiB, {p.peak_rss / o.budget:.3f} {TIMES} the budget. The strong
run {strong_note(o)}.{growth(o)}

{who_evicted(p)} {first_soft(p)}{parts}

```
{o.result_line()}
```
"""


def strong_note(o: Outcome) -> str:
    st = o.strong
    if st.capped:
        return f"was killed at the {st.plan.cap_mib:,} MiB safety cap"
    note = f"peaked at {fmt_mib(st.peak_rss)} MiB, {st.peak_rss / o.budget:.3f} {TIMES} the budget"
    return note + (", at the very end of the run" if st.peak_rss == st.rss_at(1.0) else "")


def growth(o: Outcome) -> str:
    """How much more the strong run held at the end, per 1,000 frames."""
    p, st = o.proxy, o.strong
    extra_rss = st.rss_at(1.0) - p.rss_at(1.0)
    extra_frames = st.last.get("ticksmith_cache_entries") - p.last.get("ticksmith_cache_entries")
    if extra_frames <= 0 or extra_rss <= 0:
        return ""
    return (
        f" At the end it held {extra_frames:,.0f} more frames than the proxy run and"
        f" {fmt_mib(extra_rss)} MiB more RSS, about {extra_rss / MiB / extra_frames * 1000:.0f}"
        " MiB per 1,000 frames: it keeps growing by that much for every 1,000 further symbols"
        f" read, bounded only by symbols {TIMES} frame size, while the proxy run stayed flat."
    )


def who_evicted(p: Run) -> str:
    """The cache's own budget or the monitor's soft level: which did the evicting."""
    plan = p.plan
    by_reason = p.delta_by("ticksmith_cache_evictions_total", "reason")
    if not by_reason.get("budget"):
        return (
            f"The cache never reached its own {plan.cache_mib} MiB budget (no `budget` evictions):"
            f" the monitor's soft level (RSS at {0.8 * plan.budget_mib:.0f} MiB) did all the"
            " evicting."
        )
    pressure = sum(v for k, v in by_reason.items() if k.startswith("pressure"))
    return (
        f"The cache's own {plan.cache_mib} MiB budget evicted"
        f" {by_reason['budget'] / p.minutes:,.0f} entries a minute, the monitor"
        f" {pressure / p.minutes:,.0f}."
    )


# --- main ---------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> Outcome | None:
    """Both runs (or --modes), then the parts; None unless both runs were made."""
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    plan = Plan(
        minutes=args.minutes,
        symbols=args.symbols,
        rate=args.rate,
        batch_size=args.batch_size,
        budget_mib=args.budget_mib,
        cache_mib=args.cache_mib,
        ticks_per_symbol=args.ticks_per_symbol,
        history_bars=args.history_bars,
        interval_ms=args.interval_ms,
        read_rate=args.read_rate,
        readers=args.readers,
        cap_mib=args.cap_mib,
        seed=args.seed,
    )
    started, load_before = time.perf_counter(), load_average()
    runs: dict[str, Run] = {}
    with local_broker() as bootstrap:
        for mode in args.modes:
            print(
                f"{mode}: {plan.symbols:,} symbols at {plan.rate:,} ticks/s for "
                f"{plan.minutes} min ...",
                flush=True,
            )
            run = await one_run(bootstrap, plan, mode)
            runs[mode] = run
            print(summary(run), flush=True)
            if args.dump:
                args.dump.mkdir(parents=True, exist_ok=True)
                (args.dump / f"{mode}.metrics").write_text(run.last_text)
                (args.dump / f"{mode}.log").write_text(
                    "\n".join(run.transitions) + "\n" + run.log_tail
                )
                (args.dump / f"{mode}.rss").write_text(
                    "".join(f"{t:.1f} {b}\n" for t, b in run.rss)
                )
        parts = None
        if args.parts:
            print("parts: the service's parts in a fresh process ...", flush=True)
            parts = await measure_parts(plan)
    if not {"proxy", "strong"} <= set(runs):
        return None
    load = f"{load_before} at the start, {load_average()} at the end"
    elapsed = time.perf_counter() - started
    return Outcome(runs["proxy"], runs["strong"], elapsed, load, parts)


def summary(r: Run) -> str:
    return (
        f"  peak RSS {fmt_mib(r.peak_rss)} MiB (idle {fmt_mib(r.idle_rss)}), store "
        f"{fmt_mib(r.last.get('ticksmith_store_bytes'))} MiB, cache peak "
        f"{fmt_mib(r.peak('ticksmith_cache_bytes'))} MiB, evictions/min "
        f"{r.per_min('ticksmith_cache_evictions_total'):.1f}, recomputes/min "
        f"{r.per_min('ticksmith_cache_recomputes_total'):.1f}, hot p50/p99 "
        f"{_pq(r.latencies('hot'))} ms, cold {_pq(r.latencies('cold'))} ms, "
        f"{len(r.reads)} reads, lag max {max_lag(r):,.0f}, cpu {r.cpu_s:.0f}s"
        + (" CAPPED" if r.capped else "")
    )


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=5.5, help="streaming time per run")
    p.add_argument("--symbols", type=int, default=10_000)
    p.add_argument("--rate", type=int, default=20_000, help="ticks/s produced")
    p.add_argument("--batch-size", type=int, default=20, help="binary-batch ticks per record")
    p.add_argument("--budget-mib", type=int, default=512, help="monitor.budget_bytes")
    p.add_argument("--cache-mib", type=int, default=16, help="cache.budget_bytes (proxy run)")
    p.add_argument("--ticks-per-symbol", type=int, default=64)
    p.add_argument("--history-bars", type=int, default=64)
    p.add_argument("--interval-ms", type=int, default=5000, help="bars.intervals_ms")
    p.add_argument("--read-rate", type=float, default=100.0, help="read pairs/s, at most")
    p.add_argument("--readers", type=int, default=16, help="read pairs in flight, at most")
    p.add_argument("--cap-mib", type=int, default=6144, help="kill a run above this RSS")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--modes", type=lambda s: s.split(","), default=["proxy", "strong"])
    p.add_argument("--dump", type=Path, help="save each run's last /metrics, log tail, RSS")
    p.add_argument("--no-parts", dest="parts", action="store_false", help="skip the breakdown")
    p.add_argument("--results", type=Path, default=RESULTS, help="the file to write")
    p.add_argument("--no-write", dest="write", action="store_false", help="leave RESULTS.md")
    return p.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    outcome = uvloop.run(main(arguments))
    if outcome is None:
        sys.exit(0)
    print(table(outcome))
    if outcome.parts:
        print(parts_table(outcome.parts))
    if arguments.write:
        write_generated(SECTION, "bench/memory.py", generated(outcome), arguments.results)
    print(outcome.result_line())
