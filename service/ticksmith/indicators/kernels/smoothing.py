"""Recursive smoothers seeded TA-Lib's way: the mean of the first `period`
inputs (summed from 0.0 in input order), then a recurrence per input.

EMA:    ``v = (x - v) * k + v`` with ``k = 2 / (period + 1)``  (TA-Lib's form)
Wilder: ``v = (v * (period - 1) + x) / period``                (TA-Lib's form)

A recurrence whose every step rounds has no exact vectorised form over time,
so the backfill runs the step function over Python floats (IEEE doubles, one
rounding per operation). The incremental push makes the same operations in the
same order in one compiled call (numba without fastmath: no fused multiply-add),
so the two agree bit for bit; the tests hold them to it.
"""

from __future__ import annotations

import itertools
from typing import TypeVar

import numpy as np

from ticksmith.indicators.columns import Floats, Ints, Rows, kernel_inputs
from ticksmith.indicators.kernels.rowstate import grown
from ticksmith.store.kernels import T, compiled

F = TypeVar("F", float, Floats)


def ema_factor(period: int) -> float:
    return 2.0 / (period + 1)


class EmaStep:
    WILDER = False

    def __init__(self, period: int) -> None:
        self.k = ema_factor(period)

    def __call__(self, prev: F, x: F) -> F:
        return (x - prev) * self.k + prev


class WilderStep:
    WILDER = True
    k = 0.0  # the compiled push's EMA factor, unused by Wilder's step

    def __init__(self, period: int) -> None:
        self._period = period

    def __call__(self, prev: F, x: F) -> F:
        return (prev * (self._period - 1) + x) / self._period


@compiled(
    T.Array(T.float64, 1, "C")(
        T.Array(T.intp, 1, "C", readonly=True),
        T.Array(T.float64, 1, "C", readonly=True),
        T.Array(T.float64, 1, "C"),
        T.Array(T.int64, 1, "C"),
        T.int64,
        T.boolean,
        T.float64,
    )
)
def seeded_push(rows, x, value, count, period, wilder, k):  # type: ignore[no-untyped-def]
    """Each of `rows` (unique) takes its input `x`: summed into its running sum
    until its `period`-th input, which makes the seed (the sum's mean), then one
    step (Wilder's when `wilder`, else the EMA's with factor `k`). NaN until seeded."""
    out = np.empty(len(rows), np.float64)
    for i in range(len(rows)):
        r = rows[i]
        n = count[r] + 1
        count[r] = n
        v = value[r]
        if n < period:
            v = v + x[i]
        elif n == period:
            v = (v + x[i]) / period
        elif wilder:
            v = (v * (period - 1) + x[i]) / period
        else:
            v = (x[i] - v) * k + v
        value[r] = v
        out[i] = v if n >= period else np.nan
    return out


class Seeded:
    """A smoother per row: NaN for the first ``period - 1`` inputs, then the
    seed, then ``step(previous, input)``."""

    def __init__(self, period: int, step: EmaStep | WilderStep, capacity: int) -> None:
        self._period = period
        self._step = step
        self._value = np.zeros(capacity)  # the running sum until seeded
        self._count: Ints = np.zeros(capacity, np.int64)

    def push(self, rows: Rows, x: Floats) -> Floats:
        """One input per row (rows unique), in one compiled call: the numpy form was
        nine calls, and EMA, RSI (two), MACD (three) and ATR push at every step
        closing a bar."""
        out: Floats = seeded_push(
            *kernel_inputs(rows, x),
            self._value,
            self._count,
            self._period,
            self._step.WILDER,
            self._step.k,
        )
        return out

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
    # summed from 0.0, as ``push`` sums: 0.0 + -0.0 is 0.0
    seed = float(np.add.accumulate(np.r_[0.0, x[:period]])[-1]) / period
    tail: list[float] = x[period:].tolist()
    out[period - 1 :] = list(itertools.accumulate(tail, step, initial=seed))
    return out
