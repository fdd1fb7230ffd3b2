"""Quiet close, the symbol limit and expiry: the store's bounds, decided by the order
of records alone, so a replay or a backlog decides as live did."""

import itertools

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.oracle import assert_bars_equal, offline_bars
from tests.unit.store.test_store import (
    INTERVAL,
    INTERVAL_MS,
    bars_frame,
    in_partitions,
    make_ticks,
    store_bars,
    to_batch,
)
from ticksmith.store.result import ApplyResult
from ticksmith.store.store import Store


def run(store: Store, ticks: pd.DataFrame, edges: list[int]) -> tuple[list[ApplyResult], int]:
    results = [store.apply(to_batch(ticks.iloc[lo:hi])) for lo, hi in itertools.pairwise(edges)]
    return results, sum(len(r.late) for r in results)


def quiet_ticks(seed: int, n: int) -> pd.DataFrame:
    """S0 trades only in the first fifth of the time; the others all the way."""
    ticks = make_ticks(seed, n, 4)
    early = ticks["ts"] < 4 * INTERVAL
    return ticks[(ticks["symbol"] != "S0") | early].reset_index(drop=True)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(50, 400),
    cuts=st.lists(st.integers(0, 400), max_size=8),
)
def test_quiet_close_decides_the_same_however_the_stream_is_batched(
    seed: int, n: int, cuts: list[int]
) -> None:
    ticks = quiet_ticks(seed, n)
    n = len(ticks)
    whole = Store([INTERVAL_MS, 4 * INTERVAL_MS], 10_000, 64, quiet_close_ms=3)
    cut = Store([INTERVAL_MS, 4 * INTERVAL_MS], 10_000, 64, quiet_close_ms=3)
    _, late_whole = run(whole, ticks, [0, n])
    _, late_cut = run(cut, ticks, sorted({0, n, *(c for c in cuts if c < n)}))
    assert late_whole == late_cut == 0  # in event-time order: nothing is late
    for ms in (INTERVAL_MS, 4 * INTERVAL_MS):
        for symbol in whole.symbols():
            # coarser VWAPs sum notionals in batch-dependent order: equal to 1e-12
            assert_bars_equal(bars_frame(cut, symbol, ms), bars_frame(whole, symbol, ms))


def test_a_quiet_symbols_bar_closes_once_its_partition_moved_past_the_deadline() -> None:
    ticks = quiet_ticks(3, 400)
    store = Store([INTERVAL_MS], 10_000, 64, quiet_close_ms=3)
    run(store, ticks, [0, len(ticks)])
    expected = offline_bars(ticks, INTERVAL)  # closed by the symbol's own ticks
    s0 = ticks[ticks["symbol"] == "S0"]
    last = s0["ts"].max() - s0["ts"].max() % INTERVAL
    assert last not in expected.loc["S0"].index  # without quiet close it would stay open
    closer = pd.DataFrame({"symbol": ["S0"], "ts": [10**12], "price": [1.0], "size": [1.0]})
    with_last = offline_bars(pd.concat([ticks, closer], ignore_index=True), INTERVAL)
    assert_bars_equal(store_bars(store), with_last)


def test_quiet_close_follows_each_partitions_own_event_time() -> None:
    """A partition far ahead in event time closes nothing in another one."""
    store = Store([INTERVAL_MS], 10_000, 64, quiet_close_ms=2)
    ahead = to_batch(make_ticks(1, 50, 2).assign(ts=lambda t: t["ts"] + 100 * INTERVAL))
    behind = to_batch(make_ticks(2, 50, 1).assign(symbol="B0"))
    store.apply(in_partitions(behind, np.ones(len(behind))))
    store.apply(in_partitions(ahead, np.zeros(len(ahead))))
    assert len(store.forming("B0")) == 1  # still open: partition 1 did not move
    assert store.advance(10**15, [1]).bars_closed == 1
    assert len(store.forming("S0")) == 1  # advancing partition 1 left partition 0 alone


def test_advance_leaves_free_and_unused_slots_alone() -> None:
    store = Store([INTERVAL_MS], 100, 8)
    store.apply(to_batch(make_ticks(4, 40, 2)))
    store.drop_partitions([0])
    store.advance(10**15, [0])
    result = store.apply(to_batch(make_ticks(5, 40, 2)))  # new symbols reuse the freed slots
    assert len(result.late) == 0
    assert result.bars_closed == len(offline_bars(make_ticks(5, 40, 2), INTERVAL))


def test_over_the_symbol_limit_a_new_symbols_ticks_are_refused_and_nothing_else_changes() -> None:
    ticks = make_ticks(6, 300, 5)
    store = Store([INTERVAL_MS], 10_000, 64, max_symbols=3)
    result = store.apply(to_batch(ticks))
    held = store.symbols()
    assert len(held) == 3
    refused = ticks[~ticks["symbol"].isin(held)]
    assert sorted(result.refused.offset.tolist()) == refused.index.tolist()
    kept = ticks[ticks["symbol"].isin(held)]
    assert_bars_equal(store_bars(store), offline_bars(kept, INTERVAL))
    store.drop_partitions([0])  # room again: the refused symbols are taken now
    assert len(store.apply(to_batch(refused)).refused) == 0
    assert sorted(store.symbols()) == sorted(refused["symbol"].unique())


def test_a_symbol_idle_past_the_limit_closes_its_forming_bar_and_is_forgotten() -> None:
    store = Store([INTERVAL_MS, 2 * INTERVAL_MS], 100, 8, symbol_idle_ms=5)
    first = make_ticks(7, 20, 1).assign(ts=lambda t: t["ts"] % INTERVAL)  # S0, bar [0, 1)
    store.apply(to_batch(first))
    assert store.forming("S0")["count"].tolist() == [20]
    others = make_ticks(8, 50, 1).assign(symbol="X", ts=lambda t: 7 * INTERVAL + t["ts"] % 2)
    result = store.apply(to_batch(others))
    assert result.expired == ["S0"] and store.get("S0") is None
    assert result.closed[INTERVAL_MS]["S0"]["count"].tolist() == [20]
    assert result.closed[2 * INTERVAL_MS]["S0"]["count"].tolist() == [20]


@settings(max_examples=40, deadline=None)
@given(ops=st.lists(st.tuples(st.booleans(), st.integers(0, 40)), max_size=200))
def test_the_symbol_table_finds_every_held_symbol_after_any_adds_and_removes(
    ops: list[tuple[bool, int]],
) -> None:
    store = Store([INTERVAL_MS], 10, 4)
    held: set[str] = set()
    for add, k in ops:
        name = f"S{k}"
        if add:
            one = pd.DataFrame({"symbol": [name], "ts": [0], "price": [1.0], "size": [1.0]})
            batch = to_batch(one)
            store.apply(in_partitions(batch, np.array([k % 3])))
            held.add(name)
        else:
            gone = store.drop_partitions([k % 3])
            held -= set(gone)
            assert all(int(s[1:]) % 3 == k % 3 for s in gone)
        assert store.symbols() == sorted(held)
        assert all(store.get(s) is not None and store.get(s).symbol == s for s in held)  # type: ignore[union-attr]
