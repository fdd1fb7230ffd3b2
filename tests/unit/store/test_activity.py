"""Activity bars (tick, volume, dollar) equal an offline pandas recomputation,
however the ticks are batched, anchored periods and expiry included."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.oracle import assert_bars_equal, offline_activity_bars
from tests.unit.store.test_store import to_batch
from ticksmith.bar import ActivitySet
from ticksmith.cache.frames import bars_to_frame
from ticksmith.store.store import Store

ANCHOR_MS = 3
SETS = (ActivitySet("ticks", 3), ActivitySet("volume", 700.0), ActivitySet("dollars", 40_000.0))


def random_ticks(seed: int, n: int, symbols: int) -> pd.DataFrame:
    """In time order per symbol over about seven anchor periods; integral sizes
    (some zero), so volumes add up exactly in any order."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "symbol": rng.choice([f"S{i}" for i in range(symbols)], n).astype(object),
            "ts": np.sort(rng.integers(0, 20 * 1_000_000, n)).astype(np.int64),
            "price": np.round(100 + rng.standard_normal(n).cumsum(), 2),
            "size": rng.integers(0, 500, n).astype(np.float64),
        }
    )


def new_store(symbol_idle_ms: int = 0) -> Store:
    return Store(
        [1], 100_000, 64, activity=SETS, activity_anchor_ms=ANCHOR_MS, symbol_idle_ms=symbol_idle_ms
    )


def fed(store: Store, ticks: pd.DataFrame, cuts: list[int]) -> Store:
    for lo, hi in zip([0, *cuts], [*cuts, len(ticks)], strict=True):
        store.apply(to_batch(ticks.iloc[lo:hi]))
    return store


def activity_frame(store: Store, label: str) -> pd.DataFrame:
    frames = {s: bars_to_frame(store.bars(s, label)) for s in store.symbols()}
    out = pd.concat(frames, names=["symbol", "start"])
    starts = out.index.get_level_values("start").as_unit("ns").asi8
    out.index = pd.MultiIndex.from_arrays(
        [out.index.get_level_values("symbol"), starts], names=["symbol", "start_ns"]
    )
    return out


def expected(ticks: pd.DataFrame, bar_set: ActivitySet) -> pd.DataFrame:
    return offline_activity_bars(ticks, bar_set.measure, bar_set.threshold, ANCHOR_MS * 10**6)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 600),
    symbols=st.integers(1, 6),
    cuts=st.lists(st.integers(0, 600), max_size=12),
)
def test_activity_bars_match_offline_recomputation_however_batched(
    seed: int, n: int, symbols: int, cuts: list[int]
) -> None:
    ticks = random_ticks(seed, n, symbols)
    store = fed(new_store(), ticks, sorted(c for c in cuts if c < n))
    for bar_set in SETS:
        want = expected(ticks, bar_set)
        if want.empty:
            assert all(len(store.bars(s, bar_set.label)) == 0 for s in store.symbols())
            continue
        assert_bars_equal(activity_frame(store, bar_set.label), want)


def test_the_tick_that_reaches_the_threshold_closes_the_bar_whole() -> None:
    store = Store([1_000], 100, 64, activity=[ActivitySet("volume", 100.0)])
    ticks = pd.DataFrame(
        {
            "symbol": ["A"] * 4,
            "ts": [1, 2, 3, 4],
            "price": [1.0, 2.0, 3.0, 4.0],
            "size": [60.0, 70.0, 10.0, 85.0],
        }
    )
    result = store.apply(to_batch(ticks))
    (bar,) = result.closed["volume:100"]["A"]
    assert (bar["volume"], bar["count"], bar["close"]) == (130.0, 2, 2.0)  # 60 + 70: no split
    assert len(store.bars("A", "volume:100")) == 1  # 10 + 85 is still forming: no carry


def test_an_anchor_closes_the_forming_bar_under_its_threshold() -> None:
    store = Store([1], 100, 64, activity=[ActivitySet("ticks", 10)], activity_anchor_ms=1)
    ticks = pd.DataFrame(
        {
            "symbol": ["A"] * 3,
            "ts": [10, 20, 1_000_000],
            "price": [1.0, 2.0, 3.0],
            "size": [1.0, 1.0, 1.0],
        }
    )
    store.apply(to_batch(ticks))
    (bar,) = store.bars("A", "ticks:10")
    assert (bar["start_ns"], bar["count"], bar["close"]) == (10, 2, 2.0)


def test_an_expiring_symbol_closes_its_forming_activity_bars() -> None:
    store = new_store(symbol_idle_ms=5)
    ticks = pd.DataFrame(
        {"symbol": ["A", "B"], "ts": [0, 9_000_000], "price": [1.0, 2.0], "size": [5.0, 5.0]}
    )
    result = store.apply(to_batch(ticks))
    assert result.expired == ["A"]
    assert result.closed["ticks:3"]["A"]["count"].tolist() == [1]


def test_no_activity_sets_leave_the_store_as_it_was() -> None:
    store = Store([1_000], 100, 64)
    result = store.apply(to_batch(random_ticks(1, 200, 3)))
    assert list(result.closed) == [1_000]
    assert store.bar_keys == (1_000,)
