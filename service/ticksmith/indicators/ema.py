"""EMA: seeded with the SMA of the first `period` closes, then
``ema = (close - ema) * k + ema`` with ``k = 2 / (period + 1)`` (TA-Lib EMA)."""

from __future__ import annotations

from dataclasses import dataclass

from ticksmith.indicators.base import Indicator, IndicatorState, Outputs, Params, check_int
from ticksmith.indicators.columns import BarColumns, Ints, Rows
from ticksmith.indicators.kernels.rowstate import RowState
from ticksmith.indicators.kernels.smoothing import EmaStep, Seeded, seeded_series


@dataclass(frozen=True, slots=True)
class EmaParams(Params):
    period: int = 30

    def __post_init__(self) -> None:
        check_int("period", self.period, 1)

    @property
    def lookback(self) -> int:
        return self.period - 1


class EmaState(IndicatorState):
    def __init__(self, params: EmaParams, capacity: int) -> None:
        super().__init__(params.lookback, capacity)
        self._ema = Seeded(params.period, EmaStep(params.period), capacity)

    def _parts(self) -> tuple[RowState, ...]:
        return (self._ema,)

    def _step(self, rows: Rows, bars: BarColumns, t: Ints) -> Outputs:
        return {"ema": self._ema.push(rows, bars.close)}

    def _resume(self, row: int, bars: BarColumns) -> Outputs:
        return {"ema": self._ema.continued(row, bars.close)}


def backfill(bars: BarColumns, params: EmaParams, phase: int) -> Outputs:
    return {"ema": seeded_series(bars.close, params.period, EmaStep(params.period))}


INDICATOR = Indicator("ema", EmaParams, ("ema",), EmaState, backfill)
