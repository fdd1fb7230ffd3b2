"""The compiled loops against plain Python: bars of sorted ticks (sums as a left
fold, in time order, so batching cannot change a bit), the stable order by slot."""

from __future__ import annotations

import functools
import operator

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ticksmith.store.bars import segment
from ticksmith.store.groups import Groups
from ticksmith.store.kernels import by_slot
from ticksmith.store.pending import Pending
from ticksmith.store.tick_window import TickWindow

TICKS = st.lists(
    st.tuples(
        st.integers(0, 4),  # slot
        st.integers(0, 3),  # bar
        st.floats(0.01, 1e6, allow_nan=False),  # price
        st.floats(1e-8, 1e4, allow_nan=False),  # size: fractional, so order shows
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(ticks=TICKS)
def test_bars_are_what_a_plain_loop_gives(ticks: list[tuple[int, int, float, float]]) -> None:
    ticks = sorted(ticks, key=lambda t: (t[0], t[1]))  # stable: arrival order within a bar
    code = np.array([t[0] for t in ticks], np.intp)
    start = np.array([t[1] * 1_000 for t in ticks], np.int64)
    price = np.array([t[2] for t in ticks], np.float64)
    size = np.array([t[3] for t in ticks], np.float64)
    got = segment(code, start, price, size)
    runs: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for s, b, p, q in ticks:
        runs.setdefault((s, b * 1_000), []).append((p, q))
    assert got.code.tolist() == [s for s, _ in runs]
    assert got.bars["start_ns"].tolist() == [b for _, b in runs]
    for row, trades in zip(got.bars, runs.values(), strict=True):
        prices = [p for p, _ in trades]
        assert (row["open"], row["close"]) == (prices[0], prices[-1])
        assert (row["high"], row["low"]) == (max(prices), min(prices))
        assert row["volume"] == functools.reduce(operator.add, (q for _, q in trades))
        assert row["notional"] == functools.reduce(operator.add, (p * q for p, q in trades))
        assert row["count"] == len(trades)


@settings(max_examples=200, deadline=None)
@given(
    slots=st.lists(st.integers(0, 9), max_size=80),
    seed=st.integers(0, 2**31),
)
def test_by_slot_is_a_stable_argsort_and_sees_time_order(slots: list[int], seed: int) -> None:
    slot = np.array(slots, np.intp)
    ts = np.random.default_rng(seed).integers(0, 5, len(slot)).astype(np.int64)
    order, in_order = by_slot(slot, ts)
    want = np.argsort(slot, kind="stable")
    assert order.tolist() == want.tolist()
    s, t = slot[want], ts[want]
    assert in_order == (not (t[1:] < t[:-1])[s[1:] == s[:-1]].any())


def _read_only(*arrays: np.ndarray) -> list[np.ndarray]:
    out = []
    for a in arrays:
        a = a.copy()
        a.setflags(write=False)
        out.append(a)
    return out


def test_read_only_columns_are_taken() -> None:
    """A batch's columns may be views of a read-only buffer (np.frombuffer)."""
    code, start = _read_only(np.array([0, 0, 1], np.intp), np.array([0, 0, 5], np.int64))
    price, size = _read_only(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 2.0]))
    assert segment(code, start, price, size).bars["count"].tolist() == [2, 1]
    assert by_slot(code, start)[0].tolist() == [0, 1, 2]
    pending = Pending()
    slot, ts = _read_only(np.array([1, 0], np.intp), np.array([3, 4], np.int64))
    released = pending.release_bars(
        10, np.array([10, 10], np.int64), (slot, ts, price[:2], size[:2])
    )
    assert released.code.tolist() == [0, 1]
    window = TickWindow(4, rows=2)
    side = _read_only(np.zeros(2, np.int8))[0]
    window.append(
        Groups.of(slot, 2), {"ts_ns": ts, "price": price[:2], "size": size[:2], "side": side}
    )
    assert window.rows_of(1)["ts_ns"].tolist() == [3]
