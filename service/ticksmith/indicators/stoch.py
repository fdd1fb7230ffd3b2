"""Stochastic oscillator, TA-Lib STOCH with its default SMA smoothing:
fast %K = ``(close - lowest low) / ((highest high - lowest low) / 100)`` over
`fastk` bars (0 when the range is 0); %K (slow) = SMA of fast %K over `slowk`;
%D = SMA of %K over `slowd`. Both outputs start at the same bar, like TA-Lib."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ticksmith.indicators.base import (
    Indicator,
    IndicatorState,
    Outputs,
    Params,
    check_int,
    scatter,
    shifted,
)
from ticksmith.indicators.columns import BarColumns, Floats, Ints, Rows
from ticksmith.indicators.kernels.extremes import RollingExtreme, rolling_extreme
from ticksmith.indicators.kernels.rowstate import RowState
from ticksmith.indicators.kernels.window import WindowSum, window_sums


@dataclass(frozen=True, slots=True)
class StochParams(Params):
    fastk: int = 5
    slowk: int = 3
    slowd: int = 3

    def __post_init__(self) -> None:
        check_int("fastk", self.fastk, 1)
        check_int("slowk", self.slowk, 1)
        check_int("slowd", self.slowd, 1)

    @property
    def lookback(self) -> int:
        return self.fastk - 1 + self.slowk - 1 + self.slowd - 1


def fast_k(close: Floats, highest: Floats, lowest: Floats) -> Floats:
    scale = (highest - lowest) / 100.0
    out = np.zeros(len(close))
    return np.divide(close - lowest, scale, out=out, where=scale != 0.0)


class StochState(IndicatorState):
    def __init__(self, params: StochParams, capacity: int) -> None:
        super().__init__(params.lookback, capacity)
        self._p = params
        self._high = RollingExtreme(np.maximum, params.fastk, capacity)
        self._low = RollingExtreme(np.minimum, params.fastk, capacity)
        self._k = WindowSum(params.slowk, capacity)
        self._d = WindowSum(params.slowd, capacity)

    def _parts(self) -> tuple[RowState, ...]:
        return (self._high, self._low, self._k, self._d)

    def _step(self, rows: Rows, bars: BarColumns, t: Ints) -> Outputs:
        high = self._high.push(rows, bars.high)
        low = self._low.push(rows, bars.low)
        fast = fast_k(bars.close, high, low)
        has_fast = t >= self._p.fastk - 1
        k = self._k.push(rows[has_fast], fast[has_fast]) / self._p.slowk
        k = scatter(has_fast, k)
        has_k = t >= self._p.fastk - 1 + self._p.slowk - 1
        d = self._d.push(rows[has_k], k[has_k]) / self._p.slowd
        return {"k": k, "d": scatter(has_k, d)}


def backfill(bars: BarColumns, params: StochParams, phase: int) -> Outputs:
    n, first_fast = len(bars), params.fastk - 1
    high = rolling_extreme(np.maximum, bars.high, params.fastk, phase)
    low = rolling_extreme(np.minimum, bars.low, params.fastk, phase)
    fast = fast_k(bars.close, high, low)[first_fast:]
    k = window_sums(fast, params.slowk, phase) / params.slowk
    first_k = params.slowk - 1
    d = window_sums(k[first_k:], params.slowd, phase) / params.slowd
    return {"k": shifted(k, first_fast, n), "d": shifted(d, first_fast + first_k, n)}


INDICATOR = Indicator("stoch", StochParams, ("k", "d"), StochState, backfill)
