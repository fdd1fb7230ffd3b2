"""ATR (Wilder): the true range ``max(high - low, |high - prev close|,
|low - prev close|)`` from the second bar on, seeded with the mean of the first
`period` true ranges and smoothed by Wilder's recurrence (TA-Lib ATR)."""

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
from ticksmith.indicators.kernels.rowstate import RowState, previous
from ticksmith.indicators.kernels.smoothing import Seeded, WilderStep, seeded_series


@dataclass(frozen=True, slots=True)
class AtrParams(Params):
    period: int = 14

    def __post_init__(self) -> None:
        check_int("period", self.period, 1)

    @property
    def lookback(self) -> int:
        return self.period


def true_range(high: Floats, low: Floats, close_before: Floats) -> Floats:
    gap = np.maximum(np.abs(high - close_before), np.abs(low - close_before))
    return np.maximum(high - low, gap)


class AtrState(IndicatorState):
    def __init__(self, params: AtrParams, capacity: int) -> None:
        super().__init__(params.lookback, capacity)
        self._previous = previous(capacity)
        self._atr = Seeded(params.period, WilderStep(params.period), capacity)

    def _parts(self) -> tuple[RowState, ...]:
        return (self._previous, self._atr)

    def _step(self, rows: Rows, bars: BarColumns, t: Ints) -> Outputs:
        before = self._previous.swap(rows, bars.close)
        has = t >= 1
        tr = true_range(bars.high[has], bars.low[has], before[has])
        return {"atr": scatter(has, self._atr.push(rows[has], tr))}

    def _resume(self, row: int, bars: BarColumns) -> Outputs:
        tr = true_range(bars.high, bars.low, self._previous.then(row, bars.close))
        return {"atr": self._atr.continued(row, tr)}


def backfill(bars: BarColumns, params: AtrParams, phase: int) -> Outputs:
    tr = true_range(bars.high[1:], bars.low[1:], bars.close[:-1])
    atr = seeded_series(tr, params.period, WilderStep(params.period))
    return {"atr": shifted(atr, 1, len(bars))}


INDICATOR = Indicator("atr", AtrParams, ("atr",), AtrState, backfill)
