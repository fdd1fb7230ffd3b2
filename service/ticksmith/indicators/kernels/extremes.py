"""Rolling maximum and minimum from two blocks (see ``blocked``). Max and min
are exact, so both paths agree bit for bit whatever the order."""

from __future__ import annotations

import numpy as np

from ticksmith.indicators.columns import Bools, Floats, Ints, Rows
from ticksmith.indicators.kernels.block_buffer import blocks
from ticksmith.indicators.kernels.blocked import BlockedWindow, at, behind, positions
from ticksmith.indicators.kernels.rowstate import grown


def _empty(op: np.ufunc) -> float:
    return -np.inf if op is np.maximum else np.inf


def _suffixes(op: np.ufunc, block: Floats) -> Floats:
    return np.asarray(op.accumulate(block[:, ::-1], axis=1)[:, ::-1], dtype=np.float64)


class RollingExtreme(BlockedWindow):
    """``op`` (np.maximum or np.minimum) of each row's last `width` inputs."""

    def __init__(self, op: np.ufunc, width: int, capacity: int) -> None:
        super().__init__(width, capacity, fill=_empty(op))
        self._op = op
        self._suffix = np.full((capacity, width + 1), _empty(op))
        self._prefix = np.full(capacity, _empty(op))

    def _close(self, rows: Rows, block: Floats) -> None:
        self._suffix[rows, :-1] = _suffixes(self._op, block)

    def _window(self, rows: Rows, x: Floats, col: Ints, start: Bools, after: Ints) -> Floats:
        prefix = np.where(start, x, self._op(self._prefix[rows], x))
        self._prefix[rows] = prefix
        return np.asarray(self._op(at(self._suffix, after), prefix), dtype=np.float64)

    def grow(self, capacity: int) -> None:
        super().grow(capacity)
        self._suffix = grown(self._suffix, capacity, _empty(self._op))
        self._prefix = grown(self._prefix, capacity, _empty(self._op))

    def reset(self, rows: Rows, phases: Ints) -> None:
        super().reset(rows, phases)
        self._suffix[rows] = _empty(self._op)
        self._prefix[rows] = _empty(self._op)


def rolling_extreme(op: np.ufunc, x: Floats, width: int, phase: int = 0) -> Floats:
    """Backfill twin of ``RollingExtreme`` for one row fed `x`."""
    grid = blocks(x, width, fill=_empty(op), phase=phase)
    prefix = op.accumulate(grid, axis=1)
    suffix = behind(_suffixes(op, grid), fill=_empty(op))
    b, j = positions(len(x), width, phase)
    return np.asarray(op(suffix[b, j + 1], prefix[b, j]), dtype=np.float64)
