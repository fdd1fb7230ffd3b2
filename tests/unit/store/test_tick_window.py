"""The tick window against the obvious oracle: a bounded deque per slot."""

from __future__ import annotations

from collections import deque

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ticksmith.store.groups import Groups
from ticksmith.store.tick_window import TickWindow

batches = st.lists(st.lists(st.integers(0, 5), max_size=60), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(batches=batches, capacity=st.integers(1, 20), width=st.integers(1, 8))
def test_each_slot_keeps_its_newest_ticks_in_arrival_order(
    batches: list[list[int]], capacity: int, width: int
) -> None:
    window = TickWindow(capacity, rows=2, width=width)
    oracle: dict[int, deque[int]] = {}
    serial = 0
    for slots in batches:
        slot = np.array(slots, dtype=np.intp)
        stamp = np.arange(serial, serial + len(slot), dtype=np.int64)
        serial += len(slot)
        window.ensure_rows(6)
        columns = {"ts_ns": stamp, "price": stamp * 0.5, "size": stamp * 2.0}
        columns["side"] = (stamp % 2).astype(np.int8)
        window.append(Groups.of(slot, 6), columns)
        for s, t in zip(slots, stamp.tolist(), strict=True):
            oracle.setdefault(s, deque(maxlen=capacity)).append(t)
    for s in range(6):
        rows = window.rows_of(s)
        expected = list(oracle.get(s, ()))
        assert rows["ts_ns"].tolist() == expected
        assert rows["price"].tolist() == [t * 0.5 for t in expected]
        assert rows["side"].tolist() == [t % 2 for t in expected]
        assert int(window.total[s]) == sum(slots.count(s) for slots in batches)


def test_a_cleared_slot_starts_empty() -> None:
    window = TickWindow(4, rows=2)
    stamp = np.arange(6, dtype=np.int64)
    slot = np.zeros(6, dtype=np.intp)
    columns = {"ts_ns": stamp, "price": stamp * 1.0, "size": stamp * 1.0}
    window.append(Groups.of(slot, 2), {**columns, "side": np.zeros(6, np.int8)})
    window.clear(np.array([0]))
    assert window.rows_of(0)["ts_ns"].tolist() == []
