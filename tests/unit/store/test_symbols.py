"""Symbols that start together grow their histories at different bars."""

from __future__ import annotations

import numpy as np

from ticksmith.store.bars import BAR_DTYPE
from ticksmith.store.symbols import INITIAL_ROWS, SymbolTable


def test_histories_of_symbols_that_start_together_grow_at_different_bars() -> None:
    """A history doubles when a bar closes beyond its rows: with one initial size,
    every symbol's would copy at the same boundary."""
    table = SymbolTable(max_symbols=1_000)
    names = [f"SYM{i}" for i in range(1_000)]
    for name in names:
        table.add(name, partition=0, keys=(1_000,), history=2_000)
    grows_at = np.array(
        [table[name].bars[1_000].nbytes // BAR_DTYPE.itemsize + 1 for name in names]
    )
    assert grows_at.min() >= INITIAL_ROWS + 1 and grows_at.max() <= 2 * INITIAL_ROWS
    assert np.bincount(grows_at).max() < 2 * len(names) / INITIAL_ROWS  # about even
