"""Bollinger Bands: middle = SMA of the close over `period`; upper/lower =
middle ± `nbdevup`/`nbdevdn` population standard deviations over the same
window (TA-Lib BBANDS with its default SMA). The deviation comes from shifted
two-block sums (see ``kernels.moments``), not TA-Lib's cancelling ``E[x²]-E[x]²``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ticksmith.indicators.base import (
    Indicator,
    IndicatorState,
    Outputs,
    Params,
    check_float,
    check_int,
)
from ticksmith.indicators.columns import BarColumns, Floats, Ints, Rows
from ticksmith.indicators.kernels.moments import WindowMoments, window_m2
from ticksmith.indicators.kernels.rowstate import RowState
from ticksmith.indicators.kernels.window import WindowSum, window_sums


@dataclass(frozen=True, slots=True)
class BbandsParams(Params):
    period: int = 5
    nbdevup: float = 2.0
    nbdevdn: float = 2.0

    def __post_init__(self) -> None:
        check_int("period", self.period, 2)
        check_float("nbdevup", self.nbdevup, 0.0)
        check_float("nbdevdn", self.nbdevdn, 0.0)

    @property
    def lookback(self) -> int:
        return self.period - 1


def bands(total: Floats, m2: Floats, params: BbandsParams) -> Outputs:
    sigma = np.sqrt(m2 / params.period)
    middle = total / params.period
    return {
        "upper": middle + sigma * params.nbdevup,
        "middle": middle,
        "lower": middle - sigma * params.nbdevdn,
    }


class BbandsState(IndicatorState):
    def __init__(self, params: BbandsParams, capacity: int) -> None:
        super().__init__(params.lookback, capacity)
        self._p = params
        self._sum = WindowSum(params.period, capacity)
        self._m2 = WindowMoments(params.period, capacity)

    def _parts(self) -> tuple[RowState, ...]:
        return (self._sum, self._m2)

    def _step(self, rows: Rows, bars: BarColumns, t: Ints) -> Outputs:
        total = self._sum.push(rows, bars.close)
        return bands(total, self._m2.push(rows, bars.close), self._p)


def backfill(bars: BarColumns, params: BbandsParams, phase: int) -> Outputs:
    close, period = bars.close, params.period
    return bands(window_sums(close, period, phase), window_m2(close, period, phase), params)


INDICATOR = Indicator("bbands", BbandsParams, ("upper", "middle", "lower"), BbandsState, backfill)
