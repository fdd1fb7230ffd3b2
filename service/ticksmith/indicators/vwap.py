"""Rolling VWAP over the last `period` bars:
``Σ vwap·volume / Σ volume`` — each bar's VWAP times its volume is its traded
notional, so this is the VWAP of every trade in the window. Bars without
volume (VWAP NaN) add nothing; a window without any volume is NaN. Not in
TA-Lib; pinned against ``talib.SUM`` of the same products."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ticksmith.indicators.base import Indicator, IndicatorState, Outputs, Params, check_int
from ticksmith.indicators.columns import BarColumns, Floats, Ints, Rows
from ticksmith.indicators.kernels.rowstate import RowState
from ticksmith.indicators.kernels.window import WindowSum, window_sums


@dataclass(frozen=True, slots=True)
class VwapParams(Params):
    period: int = 20

    def __post_init__(self) -> None:
        check_int("period", self.period, 1)

    @property
    def lookback(self) -> int:
        return self.period - 1


def notional(bars: BarColumns) -> Floats:
    return np.where(bars.volume > 0.0, bars.vwap * bars.volume, 0.0)


def traded(bars: BarColumns) -> Floats:
    # A count, so that "no volume in the window" is exact whatever the drift
    # of the volume sum.
    return (bars.volume > 0.0).astype(np.float64)


def ratio(notional_sum: Floats, volume_sum: Floats, traded_sum: Floats) -> Floats:
    out = np.full(len(notional_sum), np.nan)
    np.divide(notional_sum, volume_sum, out=out, where=traded_sum > 0.0)
    return out


class VwapState(IndicatorState):
    def __init__(self, params: VwapParams, capacity: int) -> None:
        super().__init__(params.lookback, capacity)
        self._notional = WindowSum(params.period, capacity)
        self._volume = WindowSum(params.period, capacity)
        self._traded = WindowSum(params.period, capacity)

    def _parts(self) -> tuple[RowState, ...]:
        return (self._notional, self._volume, self._traded)

    def _step(self, rows: Rows, bars: BarColumns, t: Ints) -> Outputs:
        n = self._notional.push(rows, notional(bars))
        v = self._volume.push(rows, bars.volume)
        k = self._traded.push(rows, traded(bars))
        return {"vwap": ratio(n, v, k)}


def backfill(bars: BarColumns, params: VwapParams, phase: int) -> Outputs:
    sums = (
        window_sums(x, params.period, phase) for x in (notional(bars), bars.volume, traded(bars))
    )
    return {"vwap": ratio(*sums)}


INDICATOR = Indicator("vwap", VwapParams, ("vwap",), VwapState, backfill)
