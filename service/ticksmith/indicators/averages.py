"""Moving averages of the close: SMA, EMA and WMA, as TA-Lib computes them."""

from __future__ import annotations

from dataclasses import dataclass

from ticksmith.indicators.base import Indicator, IndicatorState, Outputs, PeriodParams
from ticksmith.indicators.columns import BarColumns, Ints, Rows
from ticksmith.indicators.kernels.rowstate import RowState
from ticksmith.indicators.kernels.smoothing import EmaStep, Seeded, seeded_series
from ticksmith.indicators.kernels.weighted import WeightedSum, weighted_sums
from ticksmith.indicators.kernels.window import WindowSum, window_sums


@dataclass(frozen=True, slots=True)
class SmaParams(PeriodParams):
    """SMA: the mean of the last `period` closes (TA-Lib SMA)."""

    period: int = 30


class SmaState(IndicatorState):
    def __init__(self, params: SmaParams, capacity: int) -> None:
        super().__init__(params.lookback, capacity)
        self._period = params.period
        self._sum = WindowSum(params.period, capacity)

    def _parts(self) -> tuple[RowState, ...]:
        return (self._sum,)

    def _step(self, rows: Rows, bars: BarColumns, t: Ints) -> Outputs:
        return {"sma": self._sum.push(rows, bars.close) / self._period}


def sma_backfill(bars: BarColumns, params: SmaParams, phase: int) -> Outputs:
    return {"sma": window_sums(bars.close, params.period, phase) / params.period}


SMA = Indicator("sma", SmaParams, ("sma",), SmaState, sma_backfill)


@dataclass(frozen=True, slots=True)
class EmaParams(PeriodParams):
    """EMA: seeded with the SMA of the first `period` closes, then
    ``ema = (close - ema) * k + ema`` with ``k = 2 / (period + 1)`` (TA-Lib EMA)."""

    period: int = 30


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


def ema_backfill(bars: BarColumns, params: EmaParams, phase: int) -> Outputs:
    return {"ema": seeded_series(bars.close, params.period, EmaStep(params.period))}


EMA = Indicator("ema", EmaParams, ("ema",), EmaState, ema_backfill)


@dataclass(frozen=True, slots=True)
class WmaParams(PeriodParams):
    """WMA: closes weighted 1 (oldest) to `period` (newest), divided by
    ``period * (period + 1) / 2`` (TA-Lib WMA). Amortised O(1) per bar from two
    blocks (see ``kernels.weighted``)."""

    period: int = 30


class WmaState(IndicatorState):
    def __init__(self, params: WmaParams, capacity: int) -> None:
        super().__init__(params.lookback, capacity)
        self._divider = params.period * (params.period + 1) // 2
        self._sum = WeightedSum(params.period, capacity)

    def _parts(self) -> tuple[RowState, ...]:
        return (self._sum,)

    def _step(self, rows: Rows, bars: BarColumns, t: Ints) -> Outputs:
        return {"wma": self._sum.push(rows, bars.close) / self._divider}


def wma_backfill(bars: BarColumns, params: WmaParams, phase: int) -> Outputs:
    divider = params.period * (params.period + 1) // 2
    return {"wma": weighted_sums(bars.close, params.period, phase) / divider}


WMA = Indicator("wma", WmaParams, ("wma",), WmaState, wma_backfill)
