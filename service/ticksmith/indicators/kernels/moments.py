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
from ticksmith.store.kernels import T, compiled

F2 = T.Array(T.float64, 2, "C")
F1 = T.Array(T.float64, 1, "C")


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


@compiled(T.float64(T.float64, T.float64, T.float64))
def _m2_of(s1, s2, n):  # type: ignore[no-untyped-def]
    """``_m2`` of one window part."""
    m2 = s2 - s1 * (s1 / n)
    return m2 if m2 > 0.0 or m2 != m2 else 0.0  # -0.0 gives 0.0, as np.maximum does


@compiled(
    F1(
        T.Array(T.intp, 1, "C", readonly=True),
        T.Array(T.float64, 1, "C", readonly=True),
        F2,
        T.Array(T.int64, 1, "C"),
        F2,
        F2,
        F1,
        F1,
        F1,
        F1,
    )
)
def window_m2_push(rows, x, values, count, s1, s2, s_shift, p1, p2, p_shift):  # type: ignore[no-untyped-def]
    """``WindowMoments``' numpy ``_close`` and ``_window`` for each of `rows`
    (unique) in turn: the same operations in the same order."""
    width = values.shape[1]
    out = np.empty(len(rows), np.float64)
    for i in range(len(rows)):
        r, xi = rows[i], x[i]
        col = count[r] % width
        if col == 0:  # the block just completed: its shifted suffix sums
            shift = values[r, width - 1]
            a1 = a2 = 0.0
            for j in range(width - 1, -1, -1):
                d = values[r, j] - shift
                a1 = d if j == width - 1 else a1 + d
                a2 = d * d if j == width - 1 else a2 + d * d
                s1[r, j] = a1
                s2[r, j] = a2
            s_shift[r] = shift
            shift = xi
            d = xi - shift
            q1, q2 = d, d * d
        else:
            shift = p_shift[r]
            d = xi - shift
            q1, q2 = p1[r] + d, p2[r] + d * d
        values[r, col] = xi
        count[r] += 1
        p_shift[r], p1[r], p2[r] = shift, q1, q2
        n_p = float(col + 1)
        n_s = float(width - 1 - col)
        safe_n_s = max(n_s, 1.0)
        suffix1, suffix2 = s1[r, col + 1], s2[r, col + 1]
        delta = (s_shift[r] - shift) + (suffix1 / safe_n_s - q1 / n_p)
        cross = delta * delta * (n_s * n_p / width)
        out[i] = (_m2_of(suffix1, suffix2, safe_n_s) + _m2_of(q1, q2, n_p)) + cross
    return out


class WindowMoments(BlockedWindow):
    """M2 of each row's last `width` inputs. ``_close`` and ``_window`` are the
    numpy form of the compiled ``push``, which the tests hold to it bit for bit."""

    def __init__(self, width: int, capacity: int) -> None:
        super().__init__(width, capacity)
        self._s1 = np.zeros((capacity, width + 1))
        self._s2 = np.zeros((capacity, width + 1))
        self._s_shift = np.zeros(capacity)
        self._p1 = np.zeros(capacity)
        self._p2 = np.zeros(capacity)
        self._p_shift = np.zeros(capacity)

    def push(self, rows: Rows, x: Floats) -> Floats:
        """``BlockedWindow.push`` in one compiled call: the numpy form was ~30 calls,
        ~40 us whatever the rows, at every step closing a bar (BBANDS, ``rvol``)."""
        state = (self._s1, self._s2, self._s_shift, self._p1, self._p2, self._p_shift)
        return self._compiled(window_m2_push, rows, x, *state)

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
