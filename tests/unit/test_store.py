import itertools

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.oracle import assert_bars_equal, offline_bars
from ticksmith.store.store import Store
from ticksmith.ticks import TickBatch

INTERVAL = 1_000


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
    return TickBatch(
        symbol=t["symbol"].to_numpy(dtype=object),
        ts_ns=t["ts"].to_numpy(np.int64),
        price=t["price"].to_numpy(np.float64),
        size=t["size"].to_numpy(np.float64),
        side=np.zeros(n, np.int8),
        partition=np.zeros(n, np.int32),
        offset=np.arange(n, dtype=np.int64),
    )


def store_bars(store: Store) -> pd.DataFrame:
    frames = {s: store.bars_frame(s) for s in store.symbols()}
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
    store = Store(interval_ns=INTERVAL, history_bars=10_000, ticks_per_symbol=64)
    edges = sorted({0, n, *(c for c in cuts if c < n)})
    closed = 0
    for lo, hi in itertools.pairwise(edges):
        result = store.apply(to_batch(ticks.iloc[lo:hi]))
        assert not result.late.any()
        closed += result.bars_closed
    expected = offline_bars(ticks, INTERVAL)
    assert closed == len(expected)
    if len(expected):
        assert_bars_equal(store_bars(store).loc[expected.index], expected)
    assert sum(len(store.bars_frame(s)) for s in store.symbols()) == len(expected)


def test_a_tick_older_than_the_forming_bar_is_late_and_changes_nothing() -> None:
    store = Store(interval_ns=INTERVAL, history_bars=100, ticks_per_symbol=8)
    store.apply(to_batch(make_ticks(1, 50, 1)))
    before = store.bars_frame("S0").copy()
    old = pd.DataFrame(
        {"symbol": ["S0", "S0"], "ts": [0, 10**9], "price": [1.0, 2.0], "size": [1.0, 1.0]}
    )
    result = store.apply(to_batch(old))
    assert result.late.tolist() == [True, False]
    pd.testing.assert_frame_equal(store.bars_frame("S0").iloc[: len(before)], before)


def test_dropping_a_partition_forgets_only_its_symbols() -> None:
    store = Store(interval_ns=INTERVAL, history_bars=100, ticks_per_symbol=8)
    batch = to_batch(make_ticks(2, 100, 4))
    parts = np.where(batch.symbol == "S0", 1, 0).astype(np.int32)
    store.apply(
        TickBatch(
            batch.symbol, batch.ts_ns, batch.price, batch.size, batch.side, parts, batch.offset
        )
    )
    assert store.drop_partitions([1]) == ["S0"]
    assert store.symbols() == ["S1", "S2", "S3"]


def test_the_tick_window_keeps_the_newest_ticks() -> None:
    store = Store(interval_ns=INTERVAL, history_bars=100, ticks_per_symbol=16)
    ticks = make_ticks(3, 200, 1)
    for lo in range(0, 200, 7):
        store.apply(to_batch(ticks.iloc[lo : lo + 7]))
    frame = store.ticks_frame("S0")
    np.testing.assert_array_equal(frame["price"].to_numpy(), ticks["price"].to_numpy()[-16:])
