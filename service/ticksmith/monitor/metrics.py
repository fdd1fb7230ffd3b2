"""Every Prometheus instrument ticksmith exports, on a registry passed in.

Names follow Prometheus conventions: base units in the name, ``_total`` for
counters. Sizes that are costly to keep current are read at scrape time.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
)
from prometheus_client.gc_collector import GCCollector

NS = "ticksmith"
SECONDS_FAST = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        ProcessCollector(registry=registry)
        GCCollector(registry=registry)
        self.records_consumed = Counter(
            "records_consumed",
            "Kafka records consumed.",
            ["partition"],
            namespace=NS,
            registry=registry,
        )
        self.ticks_consumed = Counter(
            "ticks_consumed",
            "Ticks decoded and applied to the store.",
            ["partition"],
            namespace=NS,
            registry=registry,
        )
        self.dead_letters = Counter(
            "dead_letters",
            "Records sent to the dead-letter topic, by reason.",
            ["reason"],
            namespace=NS,
            registry=registry,
        )
        self.bars_closed = Counter(
            "bars_closed",
            "Time bars closed.",
            ["interval"],
            namespace=NS,
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "batch_processing_seconds",
            "Time to decode, apply and commit one fetched batch.",
            namespace=NS,
            registry=registry,
            buckets=SECONDS_FAST,
        )
        self.consumer_lag = Gauge(
            "consumer_lag_messages",
            "High watermark minus position, by partition.",
            ["partition"],
            namespace=NS,
            registry=registry,
        )
        self.commits = Counter(
            "offset_commits",
            "Offset commits made after a batch's effects.",
            namespace=NS,
            registry=registry,
        )
        self.cache_entries = Gauge(
            "cache_entries",
            "Values held in the cache's strong tier.",
            namespace=NS,
            registry=registry,
        )
        self.cache_bytes = Gauge(
            "cache_bytes",
            "Bytes held by the cache's strong tier (deep).",
            namespace=NS,
            registry=registry,
        )
        self.cache_budget_bytes = Gauge(
            "cache_budget_bytes",
            "Byte budget of the cache's strong tier.",
            namespace=NS,
            registry=registry,
        )
        self.cache_hits = Counter(
            "cache_hits", "Cache reads served by a live value.", namespace=NS, registry=registry
        )
        self.cache_misses = Counter(
            "cache_misses", "Cache reads that had to compute.", namespace=NS, registry=registry
        )
        self.cache_evictions = Counter(
            "cache_evictions",
            "Strong references dropped, by reason.",
            ["reason"],
            namespace=NS,
            registry=registry,
        )
        self.cache_reference_errors = Counter(
            "cache_reference_errors",
            "Reads that hit ReferenceError on a reclaimed proxy.",
            namespace=NS,
            registry=registry,
        )
        self.cache_recomputes = Counter(
            "cache_recomputes",
            "Values recomputed, by trigger (miss, stale, reclaimed).",
            ["trigger"],
            namespace=NS,
            registry=registry,
        )
        self.cache_recompute_seconds = Histogram(
            "cache_recompute_seconds",
            "Time to recompute one value.",
            ["trigger"],
            namespace=NS,
            registry=registry,
            buckets=SECONDS_FAST,
        )
        self.store_symbols = Gauge(
            "store_symbols", "Symbols held in the store.", namespace=NS, registry=registry
        )
        self.store_bytes = Gauge(
            "store_bytes", "Bytes of the store's ring buffers.", namespace=NS, registry=registry
        )

    def read_at_scrape(self, gauge: Gauge, read: Callable[[], float]) -> None:
        gauge.set_function(read)
