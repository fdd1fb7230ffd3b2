"""Windowed sums: suffix of the previous block plus prefix of the current one
(see ``blocked``)."""

from __future__ import annotations

import numpy as np

from ticksmith.indicators.columns import Bools, Floats, Ints, Rows
from ticksmith.indicators.kernels.block_buffer import blocks
from ticksmith.indicators.kernels.blocked import BlockedWindow, at, behind, positions, suffix_sums
from ticksmith.indicators.kernels.rowstate import grown


class WindowSum(BlockedWindow):
    """Sum of each row's last `width` inputs (fewer while the first block fills)."""

    def __init__(self, width: int, capacity: int) -> None:
        super().__init__(width, capacity)
        self._suffix = np.zeros((capacity, width + 1))
        self._prefix = np.zeros(capacity)

    def _close(self, rows: Rows, block: Floats) -> None:
        self._suffix[rows, :-1] = suffix_sums(block)

    def _window(self, rows: Rows, x: Floats, col: Ints, start: Bools, after: Ints) -> Floats:
        prefix = np.where(start, x, self._prefix[rows] + x)
        self._prefix[rows] = prefix
        return at(self._suffix, after) + prefix

    def grow(self, capacity: int) -> None:
        super().grow(capacity)
        self._suffix = grown(self._suffix, capacity, 0.0)
        self._prefix = grown(self._prefix, capacity, 0.0)

    def reset(self, rows: Rows, phases: Ints) -> None:
        super().reset(rows, phases)
        self._suffix[rows] = 0.0
        self._prefix[rows] = 0.0


def window_sums(x: Floats, width: int, phase: int = 0) -> Floats:
    """Backfill twin of ``WindowSum``: its sums for one row fed `x`."""
    grid = blocks(x, width, phase=phase)
    prefix = np.add.accumulate(grid, axis=1)
    suffix = behind(suffix_sums(grid))
    b, j = positions(len(x), width, phase)
    return suffix[b, j + 1] + prefix[b, j]
