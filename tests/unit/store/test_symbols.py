"""Symbols that start together grow their histories at different bars; the slots that
new symbols would need."""

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


def test_new_symbols_take_free_slots_first_and_stop_at_the_limit() -> None:
    """``size_with``: the per-slot length after that many new symbols, as ``add`` would
    hand out their slots (what the tick window's rows are grown to ahead of a step)."""
    table = SymbolTable(max_symbols=10)
    for i in range(6):
        table.add(f"S{i}", partition=0, keys=(1_000,), history=16)
    table.remove(np.array([1, 3]))  # two free slots
    assert table.size == 6
    assert table.size_with(0) == table.size_with(2) == 6
    assert table.size_with(3) == 7
    assert table.size_with(50) == 10  # no more than max_symbols slots
    for i in range(6, 13):
        table.add(f"S{i}", partition=0, keys=(1_000,), history=16)
    assert table.size == 10 and table.size_with(5) == 10
