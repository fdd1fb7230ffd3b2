"""Coarse bars are the same bits however the stream was batched: a replay after a
restart cuts batches elsewhere, and its duplicates must be byte-identical."""

import itertools

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.store.test_store import all_bars, to_batch
from ticksmith.store.store import Store

INTERVALS_MS = [1, 10, 50]


def fed(ticks: pd.DataFrame, cuts: list[int]) -> Store:
    store = Store(INTERVALS_MS, history_bars=10_000, ticks_per_symbol=64)
    for lo, hi in itertools.pairwise(sorted({0, len(ticks), *cuts})):
        store.apply(to_batch(ticks.iloc[lo:hi]))
    return store


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    cuts=st.lists(st.integers(1, 1_999), max_size=30),
)
def test_coarse_bars_do_not_depend_on_where_batches_were_cut(seed: int, cuts: list[int]) -> None:
    rng = np.random.default_rng(seed)
    n = 2_000
    ticks = pd.DataFrame(
        {
            "symbol": rng.choice(["A", "B"], n).astype(object),
            "ts": np.sort(rng.integers(0, 200 * 1_000_000, n)).astype(np.int64),
            "price": rng.uniform(10, 500, n),  # not on a grid: sums that round
            "size": rng.uniform(0.001, 900, n),
        }
    )
    whole, cut = fed(ticks, []), fed(ticks, cuts)
    for ms in INTERVALS_MS:
        a, b = all_bars(whole, ms), all_bars(cut, ms)
        assert a.index.equals(b.index)
        for column in ("volume", "vwap"):
            np.testing.assert_array_equal(a[column].to_numpy(), b[column].to_numpy())
