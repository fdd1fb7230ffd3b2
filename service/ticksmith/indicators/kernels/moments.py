"""Windowed sum of squared deviations from the mean (M2), for standard deviations.

Not ``E[x²] - E[x]²`` over the window (TA-Lib's form), which cancels
catastrophically when the spread is small next to the level (a price of 100
moving by cents). Each block part is summed shifted by one of its own inputs
(the prefix by the block's first input, a suffix by the block's last), which
bounds the cancellation by the spread of the part; the two parts are then
combined with Chan's formula::

    M2 = M2_suffix + M2_prefix + delta² · n_suffix · n_prefix / width

A window of equal inputs has M2 exactly 0. See ``blocked`` for the two-block
scheme.
"""

from __future__ import annotations

import numpy as np

from ticksmith.indicators.columns import Bools, Floats, Ints, Rows
from ticksmith.indicators.kernels.block_buffer import blocks
from ticksmith.indicators.kernels.blocked import BlockedWindow, at, behind, positions, suffix_sums
from ticksmith.indicators.kernels.rowstate import grown


def _m2(s1: Floats, s2: Floats, n: Floats) -> Floats:
    return np.maximum(s2 - s1 * (s1 / n), 0.0)


def combine(
    prefix: tuple[Floats, Floats], suffix: tuple[Floats, Floats], col: Ints, gap: Floats, width: int
) -> Floats:
    """M2 of a window from its prefix and suffix shifted sums (Σd, Σd²) at
    column `col`; `gap` = suffix shift - prefix shift."""
    n_p = (col + 1).astype(np.float64)
    n_s = (width - 1 - col).astype(np.float64)
    safe_n_s = np.maximum(n_s, 1.0)
    delta = gap + (suffix[0] / safe_n_s - prefix[0] / n_p)
    cross: Floats = delta * delta * (n_s * n_p / width)
    parts: Floats = _m2(*suffix, safe_n_s) + _m2(*prefix, n_p)
    return parts + cross


class WindowMoments(BlockedWindow):
    """M2 of each row's last `width` inputs."""

    def __init__(self, width: int, capacity: int) -> None:
        super().__init__(width, capacity)
        self._s1 = np.zeros((capacity, width + 1))
        self._s2 = np.zeros((capacity, width + 1))
        self._s_shift = np.zeros(capacity)
        self._p1 = np.zeros(capacity)
        self._p2 = np.zeros(capacity)
        self._p_shift = np.zeros(capacity)

    def _close(self, rows: Rows, block: Floats) -> None:
        shift = block[:, -1]
        d = block - shift[:, None]
        self._s1[rows, :-1] = suffix_sums(d)
        self._s2[rows, :-1] = suffix_sums(d * d)
        self._s_shift[rows] = shift

    def _window(self, rows: Rows, x: Floats, col: Ints, start: Bools, after: Ints) -> Floats:
        shift = np.where(start, x, self._p_shift[rows])
        d = x - shift
        p1 = np.where(start, d, self._p1[rows] + d)
        p2 = np.where(start, d * d, self._p2[rows] + d * d)
        self._p_shift[rows], self._p1[rows], self._p2[rows] = shift, p1, p2
        suffix = (at(self._s1, after), at(self._s2, after))
        return combine((p1, p2), suffix, col, self._s_shift[rows] - shift, self.width)

    def grow(self, capacity: int) -> None:
        super().grow(capacity)
        self._s1 = grown(self._s1, capacity, 0.0)
        self._s2 = grown(self._s2, capacity, 0.0)
        for name in ("_s_shift", "_p1", "_p2", "_p_shift"):
            setattr(self, name, grown(getattr(self, name), capacity, 0.0))

    def reset(self, rows: Rows, phases: Ints) -> None:
        super().reset(rows, phases)
        for array in (self._s1, self._s2, self._s_shift, self._p1, self._p2, self._p_shift):
            array[rows] = 0.0


def window_m2(x: Floats, width: int, phase: int = 0) -> Floats:
    """Backfill twin of ``WindowMoments`` for one row fed `x`."""
    grid = blocks(x, width, phase=phase)
    d = grid - grid[:, :1]
    p1, p2 = np.add.accumulate(d, axis=1), np.add.accumulate(d * d, axis=1)
    s_shift = grid[:, -1:]
    ds = grid - s_shift
    s1, s2 = behind(suffix_sums(ds)), behind(suffix_sums(ds * ds))
    gap = behind(s_shift)[:, 0] - grid[:, 0]
    b, j = positions(len(x), width, phase)
    return combine((p1[b, j], p2[b, j]), (s1[b, j + 1], s2[b, j + 1]), j, gap[b], width)
