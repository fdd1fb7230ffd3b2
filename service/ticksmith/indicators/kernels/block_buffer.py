"""Each symbol's current block of inputs, and the block layout both paths share."""

from __future__ import annotations

import numpy as np

from ticksmith.indicators.columns import Floats, Ints, Rows
from ticksmith.indicators.kernels.rowstate import grown


class BlockBuffer:
    """Each row's last `width` inputs, laid out in blocks: the current block's
    inputs so far, then what is left of the block before (see ``blocked``).

    A row's input t goes to column ``(phase + t) % width``: when a row is about
    to start a block (at column 0) the buffer holds the block just completed, in
    time order, exactly as ``blocks(x, width, phase=phase)`` lays it out. Rows
    with different phases start their blocks on different steps, which spreads
    the once-per-block work of many symbols that started together.
    """

    def __init__(self, width: int, capacity: int, fill: float = 0.0) -> None:
        self.width = width
        self._fill = fill
        self.values = np.full((capacity, width), fill)
        self.count: Ints = np.zeros(capacity, np.int64)

    def columns(self, rows: Rows) -> Ints:
        """The column each row's next input goes to."""
        return self.count[rows] % self.width

    def write(self, rows: Rows, col: Ints, x: Floats) -> None:
        # One flat scatter: cheaper than a two-index one, and rows are unique.
        self.values.reshape(-1)[rows * self.width + col] = x
        self.count[rows] += 1

    def grow(self, capacity: int) -> None:
        self.values = grown(self.values, capacity, self._fill)
        self.count = grown(self.count, capacity, 0)

    def reset(self, rows: Rows, phases: Ints) -> None:
        self.values[rows] = self._fill
        self.count[rows] = phases % self.width  # the phase: as if that many fills came first


def blocks(x: Floats, width: int, fill: float = 0.0, phase: int = 0) -> Floats:
    """`x` cut into rows of `width`, starting at column ``phase % width`` of the
    first row; the columns before it and after the end hold `fill`."""
    skip = phase % width
    n = -(-(skip + len(x)) // width) * width
    padded = np.full(n, fill)
    padded[skip : skip + len(x)] = x
    return padded.reshape(-1, width)
