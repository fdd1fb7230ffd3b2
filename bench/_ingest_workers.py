"""bench/ingest.py's worker processes: `ticksmith run --workers N` draining a topic,
timed from the moment every worker is ready, with the workers' CPU time."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from _broker import Filled
from _ingest_drain import Sinks, Window, sample, sample_until
from _scrape import get_text, quick_total
from _service import Wiring, free_ports, ready, service_env, spawn, stop, tail

SCRAPE_S = 0.05  # /metrics sampling of worker processes (each scrape costs the worker)


@dataclass(frozen=True)
class Scrape:
    ticks: float  # ticksmith_ticks_consumed_total, every partition and worker
    cpu_s: float  # process_cpu_seconds_total, every worker


async def scrape(http: aiohttp.ClientSession, ports: list[int]) -> Scrape:
    texts = await asyncio.gather(*(get_text(http, f"http://127.0.0.1:{p}/metrics") for p in ports))
    ticks = sum(quick_total(t, "ticksmith_ticks_consumed_total") for t in texts)
    return Scrape(ticks, sum(quick_total(t, "process_cpu_seconds_total") for t in texts))


async def all_ready(http: aiohttp.ClientSession, ports: list[int]) -> bool:
    return all(await asyncio.gather(*(ready(http, f"http://127.0.0.1:{p}") for p in ports)))


@dataclass(frozen=True)
class WorkersRun:
    window: Window
    cpu_s: float  # the workers' CPU time inside the window
    ready_after_s: float  # from spawning the processes
    total: int

    @property
    def ticks(self) -> float:
        return self.window.last.count - self.window.first.count

    @property
    def covered(self) -> float:
        """The share of the topic consumed inside the timed window."""
        return self.ticks / self.total

    @property
    def cpu_us_per_tick(self) -> float:
        """Cost, whatever share of the cores the workers won from other load."""
        return self.cpu_s / self.ticks * 1e6


async def workers_run(bootstrap: str, filled: Filled, sinks: Sinks, n: int) -> WorkersRun:
    """`ticksmith run --workers n` with a fresh group: ticks/s from all ready to drained."""
    base = free_ports(n)
    ports = [base + i for i in range(n)]
    wiring = Wiring(bootstrap, filled.topic, sinks.dead_letter, sinks.output)
    env = service_env(wiring, base, "bench-ingest")
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        log = Path(tmp) / "workers.log"
        with log.open("w") as out:
            spawned = time.perf_counter()
            proc = await spawn(["-m", "ticksmith", "run", "--workers", str(n)], env, out)

            def alive() -> None:
                if proc.returncode is not None:
                    raise RuntimeError(f"workers exited {proc.returncode}:\n{tail(log)}")

            try:
                async with aiohttp.ClientSession() as http:
                    window, cpu_s = await _timed_from_ready(http, ports, filled.ticks, alive)
            finally:
                code = await stop(proc)
        if code != 0:
            raise RuntimeError(f"workers exited {code} on SIGTERM:\n{tail(log)}")
    return WorkersRun(window, cpu_s, window.first.at - spawned, filled.ticks)


async def _timed_from_ready(
    http: aiohttp.ClientSession, ports: list[int], total: int, alive: Callable[[], None]
) -> tuple[Window, float]:
    """The window from every worker ready to drained, and the workers' CPU time in it."""
    scrapes: list[Scrape] = []

    async def ready() -> float:
        return float(await all_ready(http, ports))

    async def ticks() -> float:
        scrapes.append(await scrape(http, ports))
        return scrapes[-1].ticks

    await sample_until(ready, bool, SCRAPE_S, alive)
    first = await sample(ticks)
    cpu_first = scrapes[-1].cpu_s
    last = await sample_until(ticks, lambda c: c >= total, SCRAPE_S, alive)
    if first.count >= total:
        raise RuntimeError("drained before every worker was ready: make the topic bigger")
    return Window(first, last), scrapes[-1].cpu_s - cpu_first


async def workers_gain(
    bootstrap: str, filled: Filled, sinks: Sinks, pairs: int
) -> list[tuple[WorkersRun, WorkersRun]]:
    """--workers 1 then --workers 2, alternating."""
    out: list[tuple[WorkersRun, WorkersRun]] = []
    for i in range(1, pairs + 1):
        one = await workers_run(bootstrap, filled, sinks, 1)
        two = await workers_run(bootstrap, filled, sinks, 2)
        a, b = one.window.rate, two.window.rate
        print(
            f"  pair {i}   1 worker {a:>12,.0f}  2 workers {b:>12,.0f} ticks/s  gain {b / a:.3f}"
            f"  CPU {one.cpu_us_per_tick:.2f}/{two.cpu_us_per_tick:.2f} µs/tick"
            f"  (ready after {one.ready_after_s:.1f}s/{two.ready_after_s:.1f}s,"
            f" timed {one.covered:.0%}/{two.covered:.0%} of the topic)"
        )
        out.append((one, two))
    return out
