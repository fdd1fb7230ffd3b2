"""Every Prometheus instrument ticksmith exports, on a registry passed in.

Names follow Prometheus conventions: base units in the name, ``_total`` for
counters. Sizes that are costly to keep current are read at scrape time.
"""

from __future__ import annotations

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
        self.ticks_replayed = Counter(
            "ticks_replayed",
            "Ticks applied in warm-up after an assignment (no outputs).",
            ["partition"],
            namespace=NS,
            registry=registry,
        )
        self.output_records = Counter(
            "output_records",
            "Bar records produced to the output topic and acknowledged.",
            namespace=NS,
            registry=registry,
        )
        self.partial_bars_dropped = Counter(
            "partial_bars_dropped",
            "Bars cut short by where a replay began, dropped instead of published; "
            "raise ingest.replay_lookback_* if this grows.",
            namespace=NS,
            registry=registry,
        )
        self.rebalances = Counter(
            "rebalances",
            "Partition revocations seen by this member.",
            namespace=NS,
            registry=registry,
        )
        self.recovery_seconds = Histogram(
            "recovery_seconds",
            "From assignment to the end of warm-up replay.",
            namespace=NS,
            registry=registry,
            buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
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
