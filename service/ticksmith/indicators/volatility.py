"""How far prices move: Bollinger Bands, ATR and realised volatility (the
standard deviation of log returns), with TA-Lib's conventions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ticksmith.indicators.base import (
    Indicator,
    IndicatorState,
    Outputs,
    PeriodParams,
    check_float,
    check_int,
    scatter,
    shifted,
)
from ticksmith.indicators.columns import BarColumns, Floats, Ints, Rows
from ticksmith.indicators.kernels.moments import WindowMoments, window_m2
from ticksmith.indicators.kernels.rowstate import RowState, previous
from ticksmith.indicators.kernels.smoothing import Seeded, WilderStep, seeded_series
from ticksmith.indicators.kernels.window import WindowSum, window_sums


@dataclass(frozen=True, slots=True)
class BbandsParams(PeriodParams):
    """Bollinger Bands: middle = SMA of the close over `period`; upper/lower =
    middle ± `nbdevup`/`nbdevdn` population standard deviations over the same
    window (TA-Lib BBANDS with its default SMA). The deviation comes from shifted
    two-block sums (see ``kernels.moments``), not TA-Lib's cancelling ``E[x²]-E[x]²``."""

    period: int = 5
    nbdevup: float = 2.0
    nbdevdn: float = 2.0
    MIN_PERIOD = 2

    def __post_init__(self) -> None:
        PeriodParams.__post_init__(self)  # slots=True: zero-argument super() fails
        check_float("nbdevup", self.nbdevup, 0.0)
        check_float("nbdevdn", self.nbdevdn, 0.0)


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


def bbands_backfill(bars: BarColumns, params: BbandsParams, phase: int) -> Outputs:
    close, period = bars.close, params.period
    return bands(window_sums(close, period, phase), window_m2(close, period, phase), params)


BBANDS = Indicator(
    "bbands", BbandsParams, ("upper", "middle", "lower"), BbandsState, bbands_backfill
)


@dataclass(frozen=True, slots=True)
class AtrParams(PeriodParams):
    """ATR (Wilder): the true range ``max(high - low, |high - prev close|,
    |low - prev close|)`` from the second bar on, seeded with the mean of the first
    `period` true ranges and smoothed by Wilder's recurrence (TA-Lib ATR)."""

    period: int = 14
    READS_PREVIOUS_CLOSE = True


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


def atr_backfill(bars: BarColumns, params: AtrParams, phase: int) -> Outputs:
    tr = true_range(bars.high[1:], bars.low[1:], bars.close[:-1])
    atr = seeded_series(tr, params.period, WilderStep(params.period))
    return {"atr": shifted(atr, 1, len(bars))}


ATR = Indicator("atr", AtrParams, ("atr",), AtrState, atr_backfill)


@dataclass(frozen=True, slots=True)
class RvolParams(PeriodParams):
    """Realised volatility: the standard deviation of the last `period` log
    returns ``ln(close / previous close)``, per bar (not annualised). Population
    (``ddof=0``, like TA-Lib STDDEV) by default, sample with ``ddof=1``. Needs
    ``period + 1`` closes. Not in TA-Lib as such; pinned against ``talib.STDDEV``
    of the log returns and a two-pass numpy oracle."""

    period: int = 20
    ddof: int = 0
    READS_PREVIOUS_CLOSE = True

    def __post_init__(self) -> None:
        # ddof first: the least period (1 + ddof) depends on it.
        check_int("ddof", self.ddof, 0)
        if self.ddof > 1:
            raise ValueError(f"ddof must be 0 (population) or 1 (sample), got {self.ddof}")
        check_int("period", self.period, 1 + self.ddof)


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


def rvol_backfill(bars: BarColumns, params: RvolParams, phase: int) -> Outputs:
    returns = log_return(bars.close[1:], bars.close[:-1])
    rvol = deviation(window_m2(returns, params.period, phase), params)
    return {"rvol": shifted(rvol, 1, len(bars))}


RVOL = Indicator("rvol", RvolParams, ("rvol",), RvolState, rvol_backfill)
