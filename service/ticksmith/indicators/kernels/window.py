"""Windowed sums: suffix of the previous block plus prefix of the current one
(see ``blocked``)."""

from __future__ import annotations

import numpy as np

from ticksmith.indicators.columns import Bools, Floats, Ints, Rows
from ticksmith.indicators.kernels.block_buffer import blocks
from ticksmith.indicators.kernels.blocked import BlockedWindow, at, behind, positions, suffix_sums
from ticksmith.indicators.kernels.rowstate import grown
from ticksmith.store.kernels import T, compiled

F2 = T.Array(T.float64, 2, "C")


@compiled(
    T.Array(T.float64, 1, "C")(
        T.Array(T.intp, 1, "C", readonly=True),
        T.Array(T.float64, 1, "C", readonly=True),
        F2,
        T.Array(T.int64, 1, "C"),
        F2,
        T.Array(T.float64, 1, "C"),
    )
)
def window_sum_push(rows, x, values, count, suffix, prefix):  # type: ignore[no-untyped-def]
    """Each of `rows` (unique) takes its input `x`: a row at column 0 first keeps
    the suffix sums of the block it completed (``suffix_sums``: added from the
    right end), the input goes to its column, and the window sum is the previous
    block's suffix after that column plus the running prefix."""
    width = values.shape[1]
    out = np.empty(len(rows), np.float64)
    for i in range(len(rows)):
        r = rows[i]
        col = count[r] % width
        if col == 0:
            acc = values[r, width - 1]
            suffix[r, width - 1] = acc
            for j in range(width - 2, -1, -1):
                acc = acc + values[r, j]
                suffix[r, j] = acc
        values[r, col] = x[i]
        count[r] += 1
        running = x[i] if col == 0 else prefix[r] + x[i]
        prefix[r] = running
        out[i] = suffix[r, col + 1] + running
    return out


class WindowSum(BlockedWindow):
    """Sum of each row's last `width` inputs (fewer while the first block fills).
    ``_close`` and ``_window`` are the numpy form of the compiled ``push``, which
    the tests hold to it bit for bit."""

    def __init__(self, width: int, capacity: int) -> None:
        super().__init__(width, capacity)
        self._suffix = np.zeros((capacity, width + 1))
        self._prefix = np.zeros(capacity)

    def push(self, rows: Rows, x: Floats) -> Floats:
        """``BlockedWindow.push`` in one compiled call (the same additions in the same
        order): a dozen numpy calls a push cost ~25 us whatever the rows, and SMA,
        Bollinger Bands and VWAP (three) push one each at every step closing a bar."""
        return self._compiled(window_sum_push, rows, x, self._suffix, self._prefix)

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
