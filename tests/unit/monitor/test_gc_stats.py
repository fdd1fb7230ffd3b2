from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from ticksmith.metrics import PAUSE_BUCKETS_SECONDS, MemoryMetrics
from ticksmith.monitor.gc_stats import GCStats


class Cell:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def stats() -> Iterator[GCStats]:
    stats = GCStats()
    with stats.installed():
        yield stats


@pytest.fixture
def no_automatic_gc() -> Iterator[None]:
    gc.disable()  # only the test's own collections run
    try:
        yield
    finally:
        gc.enable()


def make_cycles(n: int) -> None:
    for _ in range(n):
        Cell()


def test_a_full_collection_is_counted_timed_and_its_objects_counted(
    stats: GCStats, no_automatic_gc: None
) -> None:
    before = stats.snapshot()[2]
    make_cycles(1_000)
    gc.collect(2)
    after = stats.snapshot()[2]
    assert after.collections == before.collections + 1
    assert after.collected - before.collected >= 1_000
    assert after.pause_seconds_sum > before.pause_seconds_sum
    assert sum(after.pause_buckets) == after.collections


def test_young_collections_are_counted_under_their_generation(stats: GCStats) -> None:
    gc.collect(0)
    gc.collect(1)
    snapshot = stats.snapshot()
    assert snapshot[0].collections >= 1 and snapshot[1].collections >= 1


def test_the_callback_sums_what_the_collector_reports() -> None:
    stats = GCStats()
    for collected, uncollectable in [(5, 2), (3, 1)]:
        info = {"generation": 1, "collected": collected, "uncollectable": uncollectable}
        stats.callback("start", info)
        stats.callback("stop", info)
    gen = stats.snapshot()[1]
    assert (gen.collections, gen.collected, gen.uncollectable) == (2, 8, 3)
    assert sum(gen.pause_buckets) == 2


def test_after_uninstall_nothing_is_counted() -> None:
    stats = GCStats()
    stats.install()
    stats.install()  # idempotent
    stats.uninstall()
    assert stats.callback not in gc.callbacks
    gc.collect()
    assert all(gen.collections == 0 for gen in stats.snapshot().values())


def test_gc_figures_are_exported_at_scrape_time(stats: GCStats, no_automatic_gc: None) -> None:
    registry = CollectorRegistry()
    MemoryMetrics(registry, stats)
    make_cycles(100)
    gc.collect(2)
    gen = stats.snapshot()[2]
    assert gen.collections >= 1
    labels = {"generation": "2"}
    value = registry.get_sample_value
    assert value("ticksmith_gc_collections_total", labels) == gen.collections
    assert value("ticksmith_gc_collected_objects_total", labels) == gen.collected
    assert value("ticksmith_gc_uncollectable_objects_total", labels) == gen.uncollectable
    assert value("ticksmith_gc_pause_seconds_count", labels) == gen.collections
    assert value("ticksmith_gc_pause_seconds_sum", labels) == pytest.approx(gen.pause_seconds_sum)
    top = {"generation": "2", "le": str(PAUSE_BUCKETS_SECONDS[-1])}
    assert value("ticksmith_gc_pause_seconds_bucket", top) == sum(gen.pause_buckets[:-1])
