"""Prometheus instruments of the memory monitor and the GC, on a registry passed in.

Not duplicated here: ``process_resident_memory_bytes`` (prometheus-client's
ProcessCollector, registered by :class:`ticksmith.metrics.Metrics`) is the RSS
the monitor compares with the budget. An unknown or unlimited value is NaN.
The monitor's own types are seen through the protocols below, so this module
imports nothing of the monitor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from enum import IntEnum
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from ticksmith.metrics.naming import NS

PAUSE_BUCKETS_SECONDS = (
    0.00001,
    0.00005,
    0.0001,
    0.0005,
    0.001,
    0.005,
    0.01,
    0.05,
    0.1,
    0.5,
    1.0,
    5.0,
)


class MemoryReading(Protocol):
    """One memory sample (``monitor.pressure.MemorySample``); None: the kernel did not say."""

    @property
    def cgroup_current_bytes(self) -> int | None: ...
    @property
    def cgroup_working_set_bytes(self) -> int | None: ...
    @property
    def cgroup_max_bytes(self) -> int | None: ...
    @property
    def psi_some_avg10(self) -> float | None: ...
    @property
    def psi_full_avg10(self) -> float | None: ...


class GenerationCounts(Protocol):
    """One generation's totals (``monitor.gc_stats.GenerationStats``)."""

    collections: int
    collected: int
    uncollectable: int
    pause_seconds_sum: float
    pause_buckets: list[int]  # per bucket of PAUSE_BUCKETS_SECONDS, the last above them all


class GCCounts(Protocol):
    """What the GC callback has counted so far (``monitor.gc_stats.GCStats``)."""

    def snapshot(self) -> Mapping[int, GenerationCounts]: ...


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


class MemoryMetrics:
    def __init__(self, registry: CollectorRegistry, gc_stats: GCCounts) -> None:
        self.budget_bytes = Gauge(
            "memory_budget_bytes",
            "Memory budget the process RSS is held to (configured, or a fraction of the "
            "smallest of the cgroup limit, TICKSMITH_MEMORY_LIMIT_BYTES and host memory).",
            namespace=NS,
            registry=registry,
        )
        self.cgroup_current_bytes = Gauge(
            "cgroup_memory_current_bytes",
            "memory.current (v2) or memory.usage_in_bytes (v1) of the process's memory "
            "cgroup, page cache included.",
            namespace=NS,
            registry=registry,
        )
        self.cgroup_working_set_bytes = Gauge(
            "cgroup_memory_working_set_bytes",
            "cgroup memory in use minus inactive file cache: what is compared with the limit.",
            namespace=NS,
            registry=registry,
        )
        self.cgroup_max_bytes = Gauge(
            "cgroup_memory_max_bytes",
            "Smallest cgroup limit (v2 memory.max, v1 memory.limit_in_bytes) from the "
            "process's cgroup up; NaN if none.",
            namespace=NS,
            registry=registry,
        )
        self.stall_ratio = Gauge(
            "memory_pressure_stall_ratio",
            "PSI memory avg10: share of the last 10 s that some / all tasks stalled on memory.",
            ["kind"],
            namespace=NS,
            registry=registry,
        )
        self.pressure_level = Gauge(
            "memory_pressure_level",
            "Memory pressure level: 0 none, 1 soft (LRU eviction), 2 hard (drop all, collect).",
            namespace=NS,
            registry=registry,
        )
        self.evictions = Counter(
            "memory_evictions",
            "Cache entries evicted by the memory monitor, by pressure level.",
            ["level"],
            namespace=NS,
            registry=registry,
        )
        for kind in ("some", "full"):
            self.stall_ratio.labels(kind).set(math.nan)
        for level in ("soft", "hard"):
            self.evictions.labels(level)
        registry.register(GCMetrics(gc_stats))

    def record(
        self, sample: MemoryReading, budget_bytes: int, level: IntEnum, evicted: int
    ) -> None:
        """One sample, the budget it was held to, the pressure level (0: none) it
        was judged at, and the cache entries evicted for it."""
        self.budget_bytes.set(budget_bytes)
        self.cgroup_current_bytes.set(_or_nan(sample.cgroup_current_bytes))
        self.cgroup_working_set_bytes.set(_or_nan(sample.cgroup_working_set_bytes))
        self.cgroup_max_bytes.set(_or_nan(sample.cgroup_max_bytes))
        self.stall_ratio.labels("some").set(_or_nan(sample.psi_some_avg10))
        self.stall_ratio.labels("full").set(_or_nan(sample.psi_full_avg10))
        self.pressure_level.set(int(level))
        if evicted and level:
            self.evictions.labels(level.name.lower()).inc(evicted)


class GCMetrics(Collector):
    """GC pauses and counts per generation, read from the GC callback at scrape time."""

    def __init__(self, stats: GCCounts) -> None:
        self._stats = stats

    def describe(self) -> Iterable[Metric]:
        return _GCFamilies().all()

    def collect(self) -> Iterable[Metric]:
        families = _GCFamilies()
        for n, gen in self._stats.snapshot().items():
            label = [str(n)]
            families.pause.add_metric(label, _cumulative(gen.pause_buckets), gen.pause_seconds_sum)
            families.collections.add_metric(label, gen.collections)
            families.collected.add_metric(label, gen.collected)
            families.uncollectable.add_metric(label, gen.uncollectable)
        return families.all()


class _GCFamilies:
    def __init__(self) -> None:
        labels = ["generation"]
        self.pause = HistogramMetricFamily(
            f"{NS}_gc_pause_seconds",
            "Time the collector stopped the process, by oldest generation collected.",
            labels=labels,
        )
        self.collections = CounterMetricFamily(
            f"{NS}_gc_collections", "Collections, by generation.", labels=labels
        )
        self.collected = CounterMetricFamily(
            f"{NS}_gc_collected_objects",
            "Objects freed by the collector, by generation.",
            labels=labels,
        )
        self.uncollectable = CounterMetricFamily(
            f"{NS}_gc_uncollectable_objects",
            "Objects the collector found unreachable but could not free, by generation.",
            labels=labels,
        )

    def all(self) -> list[Metric]:
        return [self.pause, self.collections, self.collected, self.uncollectable]


_BOUNDS = [*(floatToGoString(b) for b in PAUSE_BUCKETS_SECONDS), "+Inf"]  # type: ignore[no-untyped-call]


def _cumulative(counts: list[int]) -> list[tuple[str, float]]:
    total, buckets = 0, []
    for bound, count in zip(_BOUNDS, counts, strict=True):
        total += count
        buckets.append((bound, float(total)))
    return buckets
