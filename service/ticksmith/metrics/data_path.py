"""Every Prometheus instrument of the data path, on a registry passed in.

Sizes that are costly to keep current are read at scrape time
(``Gauge.set_function``). Memory and GC instruments are in memory.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from ticksmith.metrics.naming import NS

FAST_SECONDS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
LATENCY_SECONDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
RECOVERY_SECONDS = (0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
BATCH_RECORDS = (1, 10, 100, 500, 1_000, 2_500, 5_000, 10_000, 20_000, 50_000)


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        ProcessCollector(registry=registry)
        c, g, h = self._counter, self._gauge, self._histogram
        # ingest
        self.records_consumed = c("records_consumed", "Kafka records consumed live.", ["partition"])
        self.ticks_consumed = c("ticks_consumed", "Ticks applied to the store live.", ["partition"])
        self.ticks_replayed = c(
            "ticks_replayed", "Ticks applied in warm-up after an assignment.", ["partition"]
        )
        self.decode_failures = c(
            "decode_failures",
            "Records that failed decoding or checks, live or in warm-up.",
            ["reason"],
        )
        self.dead_letters = c(
            "dead_letters", "Records sent to the dead-letter topic and acknowledged.", ["reason"]
        )
        self.batch_records = h("batch_records", "Records per fetched batch.", (), BATCH_RECORDS)
        self.batch_seconds = h(
            "batch_processing_seconds",
            "Decode, apply, publish and commit of one batch.",
            (),
            FAST_SECONDS,
        )
        self.consumer_lag = g(
            "consumer_lag_messages", "High watermark minus committed position.", ["partition"]
        )
        self.consumer_lag_seconds = g(
            "consumer_lag_seconds",
            "Wall clock minus the timestamp of the last record processed, while behind.",
            ["partition"],
        )
        self.end_to_end_seconds = h(
            "end_to_end_latency_seconds",
            "From the Kafka timestamp of a batch's oldest record to its effects acknowledged.",
            (),
            LATENCY_SECONDS,
        )
        self.records_refetched = c(
            "records_refetched",
            "Records left out because they were fetched before their partition's seek.",
        )
        self.records_unreadable = c(
            "records_unreadable",
            "Records aiokafka could not parse, skipped (dead-lettered by position when live).",
        )
        self.offset_resets = c(
            "offset_resets",
            "Committed offsets outside the log, replaced by kafka.auto_offset_reset.",
            ["partition", "reason"],
        )
        self.metadata_task_restarts = c(
            "kafka_metadata_task_restarts",
            "aiokafka metadata tasks found ended and started again (issue 11's hang).",
            ["client"],
        )
        self.commits = c(
            "offset_commits",
            "Offset commits made, each for the batches acknowledged since the last.",
        )
        self.rebalances = c("rebalances", "Partition revocations seen by this member.")
        self.recovery_seconds = h(
            "recovery_seconds",
            "From assignment to the end of warm-up replay.",
            (),
            RECOVERY_SECONDS,
        )
        self.event_loop_lag = h(
            "event_loop_lag_seconds", "How late the event loop ran a timer.", (), FAST_SECONDS
        )
        self.event_loop_stalls = c(
            "event_loop_stalls",
            "Times the event loop was held over monitor.loop_stall_ms (each logged with a stack).",
        )
        # bars, indicators, output
        self.bars_closed = c("bars_closed", "Time bars closed.", ["interval"])
        self.partial_bars_dropped = c(
            "partial_bars_dropped",
            "Bars cut short by where a replay began, dropped instead of published.",
        )
        self.indicator_seconds = h(
            "indicator_compute_seconds",
            "Indicator update for one batch's closed bars.",
            (),
            FAST_SECONDS,
        )
        self.output_records = c("output_records", "Bar records published and acknowledged.")
        # cache
        self.cache_entries = g("cache_entries", "Values held in the cache's strong tier.")
        self.cache_bytes = g("cache_bytes", "Bytes held by the cache's strong tier (deep).")
        self.cache_budget_bytes = g("cache_budget_bytes", "Byte budget of the strong tier.")
        self.cache_hits = c("cache_hits", "Cache reads served by a live value.")
        self.cache_misses = c("cache_misses", "Cache reads that had to compute.")
        self.cache_evictions = c("cache_evictions", "Strong references dropped.", ["reason"])
        self.cache_reference_errors = c(
            "cache_reference_errors", "Reads that hit ReferenceError on a reclaimed proxy."
        )
        self.cache_recomputes = c(
            "cache_recomputes",
            "Values built, by trigger (first, reclaimed; stale for values not fed).",
            ["trigger"],
        )
        self.cache_recompute_seconds = h(
            "cache_recompute_seconds", "Time to recompute one value.", ["trigger"], FAST_SECONDS
        )
        # api
        self.owner_describes = c(
            "owner_describes",
            "Group describes made to name the owner of a symbol held elsewhere (ok, error).",
            ["result"],
        )
        for result in ("ok", "error"):
            self.owner_describes.labels(result)
        # store
        self.store_symbols = g("store_symbols", "Symbols held in the store.")
        self.store_bytes = g("store_bytes", "Bytes of the store's buffers.")
        self.store_max_symbols = g("store_max_symbols", "store.max_symbols: the symbol limit.")
        self.checkpoint_bytes = g(
            "indicator_checkpoint_bytes",
            "Bytes kept for exact indicator rebuilds past bars.history_bars: the lagging"
            " indicator state and the last pushed-out bars per symbol.",
        )
        self.symbols_expired = c(
            "symbols_expired", "Symbols forgotten after store.symbol_idle_ms without a tick."
        )

    def _counter(self, name: str, doc: str, labels: Sequence[str] = ()) -> Counter:
        return Counter(name, doc, labels, namespace=NS, registry=self.registry)

    def _gauge(self, name: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(name, doc, labels, namespace=NS, registry=self.registry)

    def _histogram(
        self, name: str, doc: str, labels: Sequence[str], buckets: Sequence[float]
    ) -> Histogram:
        return Histogram(name, doc, labels, namespace=NS, registry=self.registry, buckets=buckets)
