"""Recursive smoothers seeded TA-Lib's way: the mean of the first `period`
inputs (summed from 0.0 in input order), then a recurrence per input.

EMA:    ``v = (x - v) * k + v`` with ``k = 2 / (period + 1)``  (TA-Lib's form)
Wilder: ``v = (v * (period - 1) + x) / period``                (TA-Lib's form)

A recurrence whose every step rounds has no exact vectorised form over time,
so the backfill runs the same step function over Python floats (IEEE doubles,
one rounding per operation, like numpy's elementwise kernels). Both paths call
the same step function, so they agree bit for bit.
"""

from __future__ import annotations

import itertools
from typing import TypeVar

import numpy as np

from ticksmith.indicators.columns import Floats, Ints, Rows
from ticksmith.indicators.kernels.rowstate import grown

F = TypeVar("F", float, Floats)


def ema_factor(period: int) -> float:
    return 2.0 / (period + 1)


class EmaStep:
    def __init__(self, period: int) -> None:
        self._k = ema_factor(period)

    def __call__(self, prev: F, x: F) -> F:
        return (x - prev) * self._k + prev


class WilderStep:
    def __init__(self, period: int) -> None:
        self._period = period

    def __call__(self, prev: F, x: F) -> F:
        return (prev * (self._period - 1) + x) / self._period


class Seeded:
    """A smoother per row: NaN for the first ``period - 1`` inputs, then the
    seed, then ``step(previous, input)``."""

    def __init__(self, period: int, step: EmaStep | WilderStep, capacity: int) -> None:
        self._period = period
        self._step = step
        self._value = np.zeros(capacity)  # the running sum until seeded
        self._count: Ints = np.zeros(capacity, np.int64)

    def push(self, rows: Rows, x: Floats) -> Floats:
        n = self._count[rows] + 1
        self._count[rows] = n
        v = self._value[rows]
        warm = v + x
        value = np.where(n < self._period, warm, self._step(v, x))
        value = np.where(n == self._period, warm / self._period, value)
        self._value[rows] = value
        return np.where(n >= self._period, value, np.nan)

    def continued(self, row: int, x: Floats) -> Floats:
        """What ``push`` would return for `x` fed to the seeded `row` one by one,
        computed as the backfill does (the same step, over Python floats); the
        state is left as it is."""
        if self._count[row] < self._period:
            raise ValueError(f"row {row} is not seeded yet")
        values = itertools.accumulate(x.tolist(), self._step, initial=float(self._value[row]))
        return np.fromiter(itertools.islice(values, 1, None), np.float64, len(x))

    def grow(self, capacity: int) -> None:
        self._value = grown(self._value, capacity, 0.0)
        self._count = grown(self._count, capacity, 0)

    def reset(self, rows: Rows, phases: Ints) -> None:
        self._value[rows] = 0.0
        self._count[rows] = 0


def seeded_series(x: Floats, period: int, step: EmaStep | WilderStep) -> Floats:
    """Backfill twin of ``Seeded`` for one row fed `x`."""
    out = np.full(len(x), np.nan)
    if len(x) < period:
        return out
    seed = float(np.add.accumulate(x[:period])[-1]) / period
    tail: list[float] = x[period:].tolist()
    out[period - 1 :] = list(itertools.accumulate(tail, step, initial=seed))
    return out
