"""RowHistory against a list: after any appends, it holds the newest `capacity` rows
in order, and each append returns exactly the rows it pushed out, oldest first;
whether or not the caller hands it the rows' bytes (Store._keep does, a view of
many symbols' rows at once)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from ticksmith.store.bars import BAR_DTYPE, no_bars
from ticksmith.store.history import RowHistory


@given(
    st.integers(1, 40),
    st.integers(1, 16),
    st.lists(st.one_of(st.just(1), st.integers(0, 50)), max_size=40),  # 1: a bar a boundary
    st.booleans(),
)
def test_a_history_keeps_the_newest_rows_and_returns_what_it_pushes_out(
    capacity: int, initial: int, appends: list[int], with_bytes: bool
) -> None:
    history = RowHistory(BAR_DTYPE, capacity, initial)
    model: list[int] = []
    made = 0
    for n in appends:
        rows = no_bars(n)
        rows["start_ns"] = np.arange(made, made + n)
        made += n
        model += rows["start_ns"].tolist()
        pushed_out = model[: max(0, len(model) - capacity)]
        model = model[len(pushed_out) :]
        raw = rows.view(np.uint8).reshape(n, BAR_DTYPE.itemsize) if with_bytes else None
        assert history.extend(rows, raw)["start_ns"].tolist() == pushed_out
        assert history.to_array()["start_ns"].tolist() == model
        assert history.total == made
        assert len(history) == len(model)
