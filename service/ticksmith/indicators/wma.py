"""WMA: closes weighted 1 (oldest) to `period` (newest), divided by
``period * (period + 1) / 2`` (TA-Lib WMA).

Amortised O(1) per bar from two blocks (see ``kernels.weighted``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ticksmith.indicators.base import Indicator, IndicatorState, Outputs, Params, check_int
from ticksmith.indicators.columns import BarColumns, Ints, Rows
from ticksmith.indicators.kernels.rowstate import RowState
from ticksmith.indicators.kernels.weighted import WeightedSum, weighted_sums


@dataclass(frozen=True, slots=True)
class WmaParams(Params):
    period: int = 30

    def __post_init__(self) -> None:
        check_int("period", self.period, 1)

    @property
    def lookback(self) -> int:
        return self.period - 1


class WmaState(IndicatorState):
    def __init__(self, params: WmaParams, capacity: int) -> None:
        super().__init__(params.lookback, capacity)
        self._divider = params.period * (params.period + 1) // 2
        self._sum = WeightedSum(params.period, capacity)

    def _parts(self) -> tuple[RowState, ...]:
        return (self._sum,)

    def _step(self, rows: Rows, bars: BarColumns, t: Ints) -> Outputs:
        return {"wma": self._sum.push(rows, bars.close) / self._divider}


def backfill(bars: BarColumns, params: WmaParams, phase: int) -> Outputs:
    divider = params.period * (params.period + 1) // 2
    return {"wma": weighted_sums(bars.close, params.period, phase) / divider}


INDICATOR = Indicator("wma", WmaParams, ("wma",), WmaState, backfill)
