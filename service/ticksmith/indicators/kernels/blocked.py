"""Windowed statistics from two blocks, in amortised O(1) per input.

Cut each row's inputs into blocks of `width` (van Herk / Gil-Werman). The
window that ends at column j of a block is the suffix of the previous block
from column j + 1 plus the prefix of the current block up to j. The prefix is
a running quantity (only additions); the suffixes of a block are computed once,
when the next block starts, in one O(width) pass over the block buffer. So
nothing is ever subtracted out of a running total: no drift over time, and no
rounding residue once a huge value has left the window (a running
``+= x - x_old`` keeps one forever, as TA-Lib's running sums do within a call).

Both paths do the same float operations in the same order: every sum is a
``np.add.accumulate`` (strictly sequential, unlike ``np.sum``'s pairwise
order) along a block, over the block buffer in the incremental path and over
``blocks(x, width)`` in the backfill.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

from ticksmith.indicators.columns import Bools, Floats, Ints, Rows, kernel_inputs
from ticksmith.indicators.kernels.block_buffer import BlockBuffer


def suffix_sums(block: Floats) -> Floats:
    """``out[:, j] = block[:, j:].sum(axis=1)``, added from the right end."""
    return np.add.accumulate(block[:, ::-1], axis=1)[:, ::-1]


def behind(per_block: Floats, fill: float = 0.0) -> Floats:
    """Each block's view of the block before it (the first sees `fill`), with a
    trailing `fill` column for the empty suffix (window = current block)."""
    out = np.full((len(per_block), per_block.shape[1] + 1), fill)
    out[1:, :-1] = per_block[:-1]
    return out


def at(array: Floats, flat_index: Ints) -> Floats:
    return array.reshape(-1)[flat_index]


def positions(n: int, width: int, phase: int = 0) -> tuple[Ints, Ints]:
    """Block and column of each of `n` inputs laid out by ``blocks``."""
    t = np.arange(n) + phase % width
    return t // width, t % width


class BlockedWindow(ABC):
    """A windowed statistic per row: ``push`` an input, get the statistic of the
    row's last `width` inputs (a partial window over the first block)."""

    def __init__(self, width: int, capacity: int, fill: float = 0.0) -> None:
        self.width = width
        self._buffer = BlockBuffer(width, capacity, fill)

    def push(self, rows: Rows, x: Floats) -> Floats:
        col = self._buffer.columns(rows)
        start = col == 0
        if start.any():
            done = rows[start]
            self._close(done, self._buffer.values[done])
        self._buffer.write(rows, col, x)
        return self._window(rows, x, col, start, rows * (self.width + 1) + col + 1)

    def _compiled(
        self, kernel: Callable[..., Floats], rows: Rows, x: Floats, *state: Any
    ) -> Floats:
        """``push`` by a compiled `kernel` taking the rows, the inputs, the block
        buffer and then `state` (the subclass's arrays)."""
        buffer = self._buffer
        return kernel(*kernel_inputs(rows, x), buffer.values, buffer.count, *state)

    @abstractmethod
    def _close(self, rows: Rows, block: Floats) -> None:
        """Keep what the windows need from `block`, which these rows completed."""

    @abstractmethod
    def _window(self, rows: Rows, x: Floats, col: Ints, start: Bools, after: Ints) -> Floats:
        """Advance the prefixes by `x` (at column `col`); the window statistic.
        `after` indexes the flattened ``(capacity, width + 1)`` suffix arrays at
        column ``col + 1``: the part of the previous block still in the window."""

    def grow(self, capacity: int) -> None:
        self._buffer.grow(capacity)

    def reset(self, rows: Rows, phases: Ints) -> None:
        self._buffer.reset(rows, phases)
