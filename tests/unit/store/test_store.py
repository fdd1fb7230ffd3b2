import dataclasses
import itertools

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.oracle import assert_bars_equal, offline_bars
from ticksmith.cache.frames import bars_to_frame
from ticksmith.produce.market import tick_batch
from ticksmith.store.store import Store
from ticksmith.store.watermarks import running_max
from ticksmith.ticks import TickBatch

INTERVAL_MS = 1
INTERVAL = INTERVAL_MS * 1_000_000


def make_ticks(seed: int, n: int, symbols: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "symbol": rng.choice([f"S{i}" for i in range(symbols)], n).astype(object),
            "ts": np.sort(rng.integers(0, 20 * INTERVAL, n)).astype(np.int64),
            "price": np.round(100 + rng.standard_normal(n).cumsum(), 2),
            "size": rng.integers(0, 500, n).astype(np.float64),
        }
    )


def to_batch(t: pd.DataFrame) -> TickBatch:
    n = len(t)
    return tick_batch(
        symbol=t["symbol"].to_numpy(dtype=object),
        ts_ns=t["ts"].to_numpy(np.int64),
        price=t["price"].to_numpy(np.float64),
        size=t["size"].to_numpy(np.float64),
        side=np.zeros(n, np.int8),
        partition=np.zeros(n, np.int32),
        offset=np.arange(n, dtype=np.int64),
    )


def bars_frame(store: Store, symbol: str, interval_ms: int | None = None) -> pd.DataFrame:
    return bars_to_frame(store.bars(symbol, interval_ms))


def in_partitions(batch: TickBatch, partition: np.ndarray) -> TickBatch:
    """The batch with each tick moved to the given partition."""
    return dataclasses.replace(batch, partition=partition.astype(np.int32))


def store_bars(store: Store) -> pd.DataFrame:
    frames = {s: bars_frame(store, s) for s in store.symbols()}
    out = pd.concat(frames, names=["symbol", "start"])
    out.index = out.index.set_levels(out.index.levels[1].as_unit("ns").asi8, level=1).rename(
        ["symbol", "start_ns"]
    )
    return out


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    symbols=st.integers(1, 6),
    cuts=st.lists(st.integers(0, 400), max_size=8),
)
def test_bars_equal_offline_recomputation_however_the_stream_is_batched(
    seed: int, n: int, symbols: int, cuts: list[int]
) -> None:
    ticks = make_ticks(seed, n, symbols)
    store = Store([INTERVAL_MS], history_bars=10_000, ticks_per_symbol=64)
    edges = sorted({0, n, *(c for c in cuts if c < n)})
    closed = 0
    for lo, hi in itertools.pairwise(edges):
        result = store.apply(to_batch(ticks.iloc[lo:hi]))
        assert len(result.late) == 0
        closed += result.bars_closed
    expected = offline_bars(ticks, INTERVAL)
    assert closed == len(expected)
    if len(expected):
        assert_bars_equal(store_bars(store).loc[expected.index], expected)
    assert sum(len(bars_frame(store, s)) for s in store.symbols()) == len(expected)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 300),
    symbols=st.integers(1, 6),
    cuts=st.lists(st.integers(1, 299), min_size=1, max_size=4),
)
def test_a_batch_joined_from_chunks_that_name_a_new_symbol_twice_gives_the_same_bars(
    seed: int, n: int, symbols: int, cuts: list[int]
) -> None:
    """A batch decoded in chunks (or of mixed formats) names a symbol once per chunk:
    two codes for one name. Each symbol still gets one slot, and the bars are the
    offline ones."""
    ticks = make_ticks(seed, n, symbols)
    edges = sorted({0, n, *(c for c in cuts if c < n)})
    joined = TickBatch.concat([to_batch(ticks.iloc[lo:hi]) for lo, hi in itertools.pairwise(edges)])
    store = Store([INTERVAL_MS], history_bars=10_000, ticks_per_symbol=64)
    closed = store.apply(joined).bars_closed
    expected = offline_bars(ticks, INTERVAL)
    assert len(store) == ticks["symbol"].nunique()
    assert closed == len(expected)
    if len(expected):
        assert_bars_equal(store_bars(store).loc[expected.index], expected)


def test_a_tick_older_than_the_forming_bar_is_late_and_changes_nothing() -> None:
    store = Store([INTERVAL_MS], history_bars=100, ticks_per_symbol=8)
    store.apply(to_batch(make_ticks(1, 50, 1)))
    before = bars_frame(store, "S0").copy()
    old = pd.DataFrame(
        {"symbol": ["S0", "S0"], "ts": [0, 10**9], "price": [1.0, 2.0], "size": [1.0, 1.0]}
    )
    result = store.apply(to_batch(old))
    assert result.late.ts_ns.tolist() == [0]
    pd.testing.assert_frame_equal(bars_frame(store, "S0").iloc[: len(before)], before)


def test_a_batch_of_only_late_ticks_is_all_late_and_changes_nothing() -> None:
    store = Store([INTERVAL_MS], history_bars=100, ticks_per_symbol=8)
    store.apply(to_batch(make_ticks(1, 50, 1)))
    before, ticks_before = bars_frame(store, "S0").copy(), store.tick_count("S0")
    old = pd.DataFrame({"symbol": ["S0"] * 2, "ts": [0, 1], "price": [1.0] * 2, "size": [1.0] * 2})
    result = store.apply(to_batch(old))
    assert result.late.ts_ns.tolist() == [0, 1]
    assert result.bars_closed == 0
    pd.testing.assert_frame_equal(bars_frame(store, "S0"), before)
    assert store.tick_count("S0") == ticks_before


def test_dropping_a_partition_forgets_only_its_symbols() -> None:
    store = Store([INTERVAL_MS], history_bars=100, ticks_per_symbol=8)
    batch = to_batch(make_ticks(2, 100, 4))
    store.apply(in_partitions(batch, np.where(batch.symbol == "S0", 1, 0)))
    assert store.drop_partitions([1]) == ["S0"]
    assert store.symbols() == ["S1", "S2", "S3"]


def test_the_tick_window_keeps_the_newest_ticks() -> None:
    store = Store([INTERVAL_MS], history_bars=100, ticks_per_symbol=16)
    ticks = make_ticks(3, 200, 1)
    for lo in range(0, 200, 7):
        store.apply(to_batch(ticks.iloc[lo : lo + 7]))
    kept = store.ticks("S0")
    np.testing.assert_array_equal(kept["price"], ticks["price"].to_numpy()[-16:])
    np.testing.assert_array_equal(kept["ts_ns"], ticks["ts"].to_numpy()[-16:])


def jumbled(ticks: pd.DataFrame, disorder: int, seed: int) -> pd.DataFrame:
    """The same ticks, each delayed by up to `disorder` ns of event time in arrival."""
    rng = np.random.default_rng(seed)
    arrival = ticks["ts"].to_numpy() + rng.integers(0, disorder + 1, len(ticks))
    return ticks.iloc[np.argsort(arrival, kind="stable")].reset_index(drop=True)


def all_bars(store: Store, ms: int) -> pd.DataFrame:
    frames = {s: bars_frame(store, s, ms) for s in store.symbols()}
    frames = {s: f for s, f in frames.items() if len(f)}
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, names=["symbol", "start"])
    starts = out.index.get_level_values("start").as_unit("ns").asi8
    out.index = pd.MultiIndex.from_arrays(
        [out.index.get_level_values("symbol"), starts], names=["symbol", "start_ns"]
    )
    return out


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    symbols=st.integers(1, 4),
    lateness_ms=st.sampled_from([0, 1, 3]),
    cuts=st.lists(st.integers(0, 400), max_size=6),
)
def test_every_interval_equals_the_offline_bars_with_out_of_order_ticks_within_lateness(
    seed: int, n: int, symbols: int, lateness_ms: int, cuts: list[int]
) -> None:
    ticks = make_ticks(seed, n, symbols)
    ticks = jumbled(ticks, lateness_ms * INTERVAL, seed) if lateness_ms else ticks
    store = Store([1, 2, 5], history_bars=10_000, ticks_per_symbol=64, lateness_ms=lateness_ms)
    edges = sorted({0, n, *(c for c in cuts if c < n)})
    closed: dict[int | str, int] = {1: 0, 2: 0, 5: 0}
    for lo, hi in itertools.pairwise(edges):
        result = store.apply(to_batch(ticks.iloc[lo:hi]))
        assert len(result.late) == 0
        for ms, by_symbol in result.closed.items():
            closed[ms] += sum(len(rows) for rows in by_symbol.values())
    for ms in (1, 2, 5):
        expected = offline_bars(ticks, ms * INTERVAL, lateness_ms * INTERVAL)
        assert closed[ms] == len(expected)
        if len(expected):
            assert_bars_equal(all_bars(store, ms).loc[expected.index], expected)


def test_a_tick_whose_bar_closed_beyond_the_lateness_is_late() -> None:
    store = Store([1], history_bars=100, ticks_per_symbol=8, lateness_ms=2)
    ts = [10, 13, 14, 11, 9]  # ms; watermark 13 then 14: bar [10,11) closes at 13
    ticks = pd.DataFrame(
        {
            "symbol": ["A"] * 5,
            "ts": np.array(ts) * INTERVAL,
            "price": [1.0, 2.0, 3.0, 4.0, 5.0],
            "size": [1.0] * 5,
        }
    )
    result = store.apply(to_batch(ticks))
    assert (result.late.ts_ns // INTERVAL).tolist() == [11, 9]
    assert bars_frame(store, "A")["close"].tolist() == [1.0]  # [10,11) closed; [13,14) not yet


def test_advancing_the_wall_clock_closes_a_quiet_symbols_bars() -> None:
    store = Store([1, 4], history_bars=100, ticks_per_symbol=8)
    store.apply(to_batch(make_ticks(5, 30, 1).assign(ts=lambda t: t["ts"] % (3 * INTERVAL))))
    assert len(bars_frame(store, "S0", 4)) == 0
    result = store.advance(100 * INTERVAL, [0])
    assert set(result.closed) == {1, 4}
    assert len(bars_frame(store, "S0", 4)) == 1 and len(store.forming("S0", 4)) == 0


def test_the_forming_bar_is_readable_and_reading_it_changes_nothing() -> None:
    ticks = make_ticks(6, 200, 1)
    store = Store([1, 5], history_bars=1000, ticks_per_symbol=8)
    store.apply(to_batch(ticks))
    newest = ticks["ts"].max()
    for ms in (1, 5):
        interval = ms * INTERVAL
        open_bar = ticks[ticks["ts"] - ticks["ts"] % interval == newest - newest % interval]
        forming = store.forming("S0", ms)
        assert forming["start_ns"][-1] == newest - newest % interval
        assert forming["count"][-1] == len(open_bar)
        assert forming["close"][-1] == open_bar["price"].iloc[-1]
        assert forming["high"][-1] == open_bar["price"].max()
    before = all_bars(store, 5)
    store.forming("S0", 5)
    pd.testing.assert_frame_equal(all_bars(store, 5), before)


@given(runs=st.lists(st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=40), max_size=8))
def test_running_max_within_runs_equals_a_per_run_cumulative_max(runs: list[list[int]]) -> None:
    values = np.array([v for run in runs for v in run], dtype=np.int64)
    rank = np.array([i for run in runs for i in range(len(run))], dtype=np.intp)
    expected = [m for run in runs for m in np.maximum.accumulate(np.array(run, np.int64))]
    assert running_max(values, rank).tolist() == expected


def test_a_bar_history_counts_every_row_even_when_one_batch_overflows_it() -> None:
    store = Store([INTERVAL_MS], history_bars=5, ticks_per_symbol=8)
    ticks = make_ticks(9, 400, 1)  # ~19 bars close in one batch
    store.apply(to_batch(ticks))
    state = store.get("S0")
    assert state is not None
    assert state.bars[INTERVAL_MS].total == len(offline_bars(ticks, INTERVAL)) > 5
    assert len(store.bars("S0")) == 5
