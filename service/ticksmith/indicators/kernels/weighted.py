"""Weighted windowed sums, 1 (oldest) to `width` (newest), from two blocks
(see ``blocked``): the sums of WMA."""

from __future__ import annotations

import numpy as np

from ticksmith.indicators.columns import Bools, Floats, Ints, Rows
from ticksmith.indicators.kernels.block_buffer import blocks
from ticksmith.indicators.kernels.blocked import BlockedWindow, at, behind, positions, suffix_sums
from ticksmith.indicators.kernels.rowstate import grown


class WeightedSum(BlockedWindow):
    """Each row's last `width` inputs weighted 1 (oldest) to `width` (newest).

    With ``Suf`` the previous block's suffix sums and ``Pre`` the current
    block's prefix sums, the window ending at column j weighs::

        Σ_{k>j} Suf[k]  +  width · Pre[j] - Σ_{k<j} Pre[k]

    (a suffix sum of suffix sums, and a running sum of prefix sums): only
    additions but one subtraction whose result is at least half its operands.
    """

    def __init__(self, width: int, capacity: int) -> None:
        super().__init__(width, capacity)
        self._suffix = np.zeros((capacity, width + 1))
        self._prefix = np.zeros(capacity)
        self._prefixes = np.zeros(capacity)  # Σ of the prefix sums so far

    def _close(self, rows: Rows, block: Floats) -> None:
        self._suffix[rows, :-1] = suffix_sums(suffix_sums(block))

    def _window(self, rows: Rows, x: Floats, col: Ints, start: Bools, after: Ints) -> Floats:
        before = np.where(start, 0.0, self._prefixes[rows])
        prefix = np.where(start, x, self._prefix[rows] + x)
        self._prefix[rows], self._prefixes[rows] = prefix, before + prefix
        weighted: Floats = at(self._suffix, after) + (self.width * prefix - before)
        return weighted

    def grow(self, capacity: int) -> None:
        super().grow(capacity)
        self._suffix = grown(self._suffix, capacity, 0.0)
        self._prefix = grown(self._prefix, capacity, 0.0)
        self._prefixes = grown(self._prefixes, capacity, 0.0)

    def reset(self, rows: Rows, phases: Ints) -> None:
        super().reset(rows, phases)
        for array in (self._suffix, self._prefix, self._prefixes):
            array[rows] = 0.0


def weighted_sums(x: Floats, width: int, phase: int = 0) -> Floats:
    """Backfill twin of ``WeightedSum``."""
    grid = blocks(x, width, phase=phase)
    prefix = np.add.accumulate(grid, axis=1)
    prefixes = np.add.accumulate(prefix, axis=1)
    before = np.zeros_like(prefixes)
    before[:, 1:] = prefixes[:, :-1]
    suffix = behind(suffix_sums(suffix_sums(grid)))
    b, j = positions(len(x), width, phase)
    weighted: Floats = suffix[b, j + 1] + (width * prefix - before)[b, j]
    return weighted
