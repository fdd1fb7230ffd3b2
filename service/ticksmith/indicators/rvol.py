"""Realised volatility: the standard deviation of the last `period` log
returns ``ln(close / previous close)``, per bar (not annualised). Population
(``ddof=0``, like TA-Lib STDDEV) by default, sample with ``ddof=1``. Needs
``period + 1`` closes. Not in TA-Lib as such; pinned against ``talib.STDDEV``
of the log returns and a two-pass numpy oracle."""

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
from ticksmith.indicators.kernels.moments import WindowMoments, window_m2
from ticksmith.indicators.kernels.rowstate import RowState, previous


@dataclass(frozen=True, slots=True)
class RvolParams(Params):
    period: int = 20
    ddof: int = 0

    def __post_init__(self) -> None:
        check_int("ddof", self.ddof, 0)
        if self.ddof > 1:
            raise ValueError(f"ddof must be 0 (population) or 1 (sample), got {self.ddof}")
        check_int("period", self.period, 1 + self.ddof)

    @property
    def lookback(self) -> int:
        return self.period


def log_return(close: Floats, close_before: Floats) -> Floats:
    return np.log(close / close_before)


def deviation(m2: Floats, params: RvolParams) -> Floats:
    return np.sqrt(m2 / (params.period - params.ddof))


class RvolState(IndicatorState):
    def __init__(self, params: RvolParams, capacity: int) -> None:
        super().__init__(params.lookback, capacity)
        self._p = params
        self._previous = previous(capacity)
        self._m2 = WindowMoments(params.period, capacity)

    def _parts(self) -> tuple[RowState, ...]:
        return (self._previous, self._m2)

    def _step(self, rows: Rows, bars: BarColumns, t: Ints) -> Outputs:
        before = self._previous.swap(rows, bars.close)
        has = t >= 1
        m2 = self._m2.push(rows[has], log_return(bars.close[has], before[has]))
        return {"rvol": scatter(has, deviation(m2, self._p))}


def backfill(bars: BarColumns, params: RvolParams, phase: int) -> Outputs:
    returns = log_return(bars.close[1:], bars.close[:-1])
    rvol = deviation(window_m2(returns, params.period, phase), params)
    return {"rvol": shifted(rvol, 1, len(bars))}


INDICATOR = Indicator("rvol", RvolParams, ("rvol",), RvolState, backfill)
