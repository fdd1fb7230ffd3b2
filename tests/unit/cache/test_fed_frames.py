"""The indicator worker feeds the cache: after any sequence of closed bars, reads,
evictions and collections, a reader's frame is exactly what the worker published,
however far ``bars.history_bars`` cut the history (recursive indicators included),
a held snapshot never changes, and frames are built only on a first read or after
reclamation, never because a bar closed."""

from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from ticksmith.app import _feed
from ticksmith.bar import START_COLUMN
from ticksmith.cache.frames import GrowingFrame
from ticksmith.cache.proxy_cache import Key, ProxyCache
from ticksmith.cache.sources import IndicatorSource
from ticksmith.indicators.registry import REGISTRY
from ticksmith.indicators.spec import parse_specs
from ticksmith.metrics import Metrics
from ticksmith.pipeline.indicator_worker import IndicatorWorker
from ticksmith.produce.market import tick_batch
from ticksmith.store.bars import BAR_DTYPE, vwap
from ticksmith.store.store import Store

SYMBOLS = ("A", "B", "C")
SECOND = 1_000_000_000


@dataclass
class World:
    """The worker's pipeline in miniature, plus what it published per symbol."""

    history: int
    store: Store = field(init=False)
    worker: IndicatorWorker = field(init=False)
    cache: ProxyCache = field(init=False)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    published: dict[str, list[pd.DataFrame]] = field(default_factory=dict)
    clock: int = 1_700_000_000 * SECOND

    def __post_init__(self) -> None:
        specs = parse_specs({name: [{}] for name in REGISTRY})  # every one, TA-Lib's defaults
        metrics = Metrics(self.registry)
        self.store = Store([1_000], history_bars=self.history, ticks_per_symbol=16)
        self.worker = IndicatorWorker(specs, [1_000], metrics)
        source = IndicatorSource(self.store, self.worker, self.history)
        self.cache = ProxyCache(1 << 30, {"indicators": source}, metrics)

    def close_bars(self, symbols: list[str], seconds: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        n = seconds * 4 * len(symbols)
        ts = self.clock + np.arange(n) * (SECOND // (4 * len(symbols)))
        self.clock = int(ts[-1]) + 1
        batch = tick_batch(
            symbol=np.array(symbols * (n // len(symbols)), dtype=object),
            ts_ns=ts.astype(np.int64),
            price=np.round(100 + rng.standard_normal(n).cumsum(), 2),
            size=rng.integers(1, 100, n).astype(np.float64),
            side=np.zeros(n, np.int8),
            partition=np.zeros(n, np.int32),
            offset=np.arange(n, dtype=np.int64),
        )
        result = self.store.apply(batch)
        values = self.worker.update(result.closed, result.evicted)
        _feed(self.cache, values)
        closed = values.get(1_000)
        if closed is None:
            return
        ends = np.cumsum(closed.counts)
        for symbol, count, end in zip(closed.symbols, closed.counts, ends, strict=True):
            bars = closed.bars[end - count : end]
            rows = pd.DataFrame({c: v[end - count : end] for c, v in closed.values.items()})
            rows["close"] = bars["close"]
            rows["vwap"] = vwap(bars)
            self.published.setdefault(symbol, []).append(rows)

    def expected(self, symbol: str) -> pd.DataFrame:
        return pd.concat(self.published[symbol], ignore_index=True).tail(self.history)

    def recomputes(self, trigger: str) -> float:
        sample = "ticksmith_cache_recomputes_total"
        return self.registry.get_sample_value(sample, {"trigger": trigger}) or 0.0


def assert_published(world: World, symbol: str, frame: pd.DataFrame) -> None:
    expected = world.expected(symbol).reset_index(drop=True)
    got = frame.reset_index(drop=True)[list(expected.columns)]
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


Op = tuple[str, int]
OPS = st.lists(
    st.tuples(st.sampled_from(["close", "read", "hold", "evict", "collect"]), st.integers(0, 9)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=80, deadline=None)
@given(ops=OPS, history=st.sampled_from([10_000, 45, 8]))
def test_readers_always_get_exactly_what_the_worker_published(ops: list[Op], history: int) -> None:
    """`history` 45 and 8 cut the history (the longest lookback, MACD's, is 33; the
    checkpoint keeps 34 pushed-out bars), so rebuilds run from the checkpoint both
    with every pushed-out bar at hand and with the recursive states resumed."""
    world = World(history=history)
    held: list[tuple[pd.DataFrame, pd.DataFrame]] = []  # a snapshot kept, and its copy
    proxies: list[tuple[object, pd.DataFrame]] = []
    frame_of: dict[str, str] = {}  # the model: "alive" or "dead" per symbol built
    builds = {"first": 0, "reclaimed": 0}
    for op, k in ops:
        symbol = SYMBOLS[k % len(SYMBOLS)]
        key = Key(symbol, "indicators", 1_000)
        if op == "close":
            world.close_bars(list(SYMBOLS[: 1 + k % 3]), (1 + k % 4) * (1 + k // 3), seed=k)
        elif op in ("read", "hold") and symbol in world.published:
            if frame_of.get(symbol) != "alive":
                builds["first" if symbol not in frame_of else "reclaimed"] += 1
            frame_of[symbol] = "alive"
            with world.cache.pin(key) as frame:
                assert_published(world, symbol, frame)
                if op == "hold":
                    held.append((frame, frame.copy()))
                    proxies.append((world.cache.get(key), frame.copy()))
        elif op == "evict":  # nothing else holds a frame: each dies at once
            world.cache.evict_to(0)
            frame_of = dict.fromkeys(frame_of, "dead")
        elif op == "collect":
            gc.collect()
        for snapshot, seen in held:  # a snapshot's rows never change under its reader
            pd.testing.assert_frame_equal(snapshot, seen, check_exact=True)
        for proxy, seen in proxies:  # a proxy's referent is gone, or exactly as it was read
            with contextlib.suppress(ReferenceError):
                pd.testing.assert_frame_equal(proxy.copy(), seen, check_exact=True)  # type: ignore[attr-defined]
    assert world.recomputes("stale") == 0  # no frame is rebuilt because a bar closed
    assert world.recomputes("first") == builds["first"]
    assert world.recomputes("reclaimed") == builds["reclaimed"]


def test_a_read_after_bars_closed_finds_the_frame_fed_not_rebuilt() -> None:
    world = World(history=10_000)
    world.close_bars(list(SYMBOLS), 5, seed=1)
    key = Key("A", "indicators", 1_000)
    with world.cache.pin(key) as frame:
        before = len(frame)
    for seed in range(2, 12):
        world.close_bars(list(SYMBOLS), 3, seed=seed)
        with world.cache.pin(key) as frame:
            assert_published(world, "A", frame)
    assert len(frame) > before + 25  # ~3 bars per close, all fed
    assert world.recomputes("first") == 1
    assert world.recomputes("stale") == world.recomputes("reclaimed") == 0


def test_an_evicted_and_collected_frame_is_rebuilt_once_as_reclaimed() -> None:
    world = World(history=10_000)
    world.close_bars(list(SYMBOLS), 30, seed=3)
    key = Key("B", "indicators", 1_000)
    proxy = world.cache.get(key)
    assert len(proxy) == 29
    world.cache.evict_to(0)
    gc.collect()
    world.close_bars(list(SYMBOLS), 2, seed=4)  # nothing is fed to a reclaimed frame
    try:
        len(proxy)
        raise AssertionError("the proxy should be dead")
    except ReferenceError:
        pass
    with world.cache.pin(key) as frame:
        assert_published(world, "B", frame)
    assert (world.recomputes("first"), world.recomputes("reclaimed")) == (1, 1)


def test_a_dropped_symbols_frame_is_no_longer_fed_and_its_next_read_builds_anew() -> None:
    """Revoked symbols leave the cache (drop_symbols): a reader still holding the old
    frame keeps it as it was, the worker stops feeding it, and the next read builds
    a new one (first) that is fed from then on."""
    world = World(history=10_000)
    world.close_bars(list(SYMBOLS), 5, seed=5)
    key = Key("C", "indicators", 1_000)
    with world.cache.pin_value(key) as old:
        world.cache.drop_symbols({"C"})
        held = old.total
        world.close_bars(list(SYMBOLS), 3, seed=6)
        assert old.total == held  # not fed once dropped
    with world.cache.pin_value(key) as new:
        assert new is not old
        world.close_bars(list(SYMBOLS), 3, seed=7)
        assert_published(world, "C", new.snapshot())  # the new frame is fed
    assert world.recomputes("first") == 2
    assert world.recomputes("stale") == world.recomputes("reclaimed") == 0


def test_first_reads_and_rebuilds_far_past_the_history_equal_what_was_published() -> None:
    """86 bars closed per symbol, 8 kept: every recursive indicator resumes from
    the checkpoint, every windowed one reads its pushed-out bars."""
    world = World(history=8)
    for seed in range(12):
        world.close_bars(list(SYMBOLS), 8, seed=seed)
    for symbol in SYMBOLS:
        key = Key(symbol, "indicators", 1_000)
        with world.cache.pin(key) as frame:
            assert_published(world, symbol, frame)
    world.cache.evict_to(0)
    gc.collect()
    world.close_bars(list(SYMBOLS), 3, seed=99)
    for symbol in SYMBOLS:
        with world.cache.pin(Key(symbol, "indicators", 1_000)) as frame:
            assert_published(world, symbol, frame)
    assert (world.recomputes("first"), world.recomputes("reclaimed")) == (3, 3)


def test_a_range_of_held_rows_is_the_snapshots_rows_however_the_buffers_moved() -> None:
    """`starts` and `rows(lo, hi)` count from the oldest row held, which moves as
    `keep` drops rows and as the buffers are copied to new ones."""
    frame = GrowingFrame(("x",), keep=5, capacity=4)
    for batch in range(8):
        bars = np.zeros(3, BAR_DTYPE)
        bars["start_ns"] = np.arange(3) + 3 * batch
        bars["close"] = bars["start_ns"] * 1.5
        frame.append(bars, {"x": bars["close"] + 0.25})
        snapshot = frame.snapshot()
        np.testing.assert_array_equal(frame.starts, snapshot.index.asi8)
        for lo, hi in [(0, len(frame)), (1, 3), (2, 2), (len(frame) - 1, len(frame))]:
            rows = frame.rows(lo, hi)
            np.testing.assert_array_equal(rows[START_COLUMN], snapshot.index.asi8[lo:hi])
            for name in snapshot.columns:
                np.testing.assert_array_equal(rows[name], snapshot[name].to_numpy()[lo:hi])
    assert frame.starts.tolist() == [19, 20, 21, 22, 23]
