"""The live one-line summary of a running service, read from its own metrics."""

from __future__ import annotations

import asyncio
import sys
import time

from prometheus_client import Metric

from ticksmith.app import Service


def _total(metric_name: str, service: Service) -> float:
    for metric in service.metrics.registry.collect():
        if metric.name == metric_name:
            return _sum(metric)
    return 0.0


def _sum(metric: Metric) -> float:
    return sum(
        s.value for s in metric.samples if s.name.endswith(("_total", "_messages", "_bytes"))
    )


def line(service: Service, ticks_per_s: float) -> str:
    bars = _total("ticksmith_bars_closed", service)
    lag = _total("ticksmith_consumer_lag_messages", service)
    rss = _total("process_resident_memory_bytes", service)
    return (
        f"ticks/s {ticks_per_s:>10,.0f} | bars {bars:>10,.0f} | lag {lag:>8,.0f} | "
        f"symbols {len(service.store):>6} | cache {len(service.cache):>5} entries "
        f"{service.cache.strong_bytes / 2**20:6.1f} MiB | rss {rss / 2**20:7.1f} MiB"
    )


async def print_every(service: Service, period_s: float = 1.0) -> None:
    last, at = _total("ticksmith_ticks_consumed", service), time.monotonic()
    while True:
        await asyncio.sleep(period_s)
        now_ticks, now = _total("ticksmith_ticks_consumed", service), time.monotonic()
        rate = (now_ticks - last) / (now - at)
        last, at = now_ticks, now
        print(line(service, rate), file=sys.stderr, flush=True)
