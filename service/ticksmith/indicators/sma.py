"""SMA: the mean of the last `period` closes (TA-Lib SMA)."""

from __future__ import annotations

from dataclasses import dataclass

from ticksmith.indicators.base import Indicator, IndicatorState, Outputs, Params, check_int
from ticksmith.indicators.columns import BarColumns, Ints, Rows
from ticksmith.indicators.kernels.rowstate import RowState
from ticksmith.indicators.kernels.window import WindowSum, window_sums


@dataclass(frozen=True, slots=True)
class SmaParams(Params):
    period: int = 30

    def __post_init__(self) -> None:
        check_int("period", self.period, 1)

    @property
    def lookback(self) -> int:
        return self.period - 1


class SmaState(IndicatorState):
    def __init__(self, params: SmaParams, capacity: int) -> None:
        super().__init__(params.lookback, capacity)
        self._period = params.period
        self._sum = WindowSum(params.period, capacity)

    def _parts(self) -> tuple[RowState, ...]:
        return (self._sum,)

    def _step(self, rows: Rows, bars: BarColumns, t: Ints) -> Outputs:
        return {"sma": self._sum.push(rows, bars.close) / self._period}


def backfill(bars: BarColumns, params: SmaParams, phase: int) -> Outputs:
    return {"sma": window_sums(bars.close, params.period, phase) / params.period}


INDICATOR = Indicator("sma", SmaParams, ("sma",), SmaState, backfill)
