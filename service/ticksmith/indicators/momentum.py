"""Momentum of the close: RSI, MACD and the stochastic oscillator, as TA-Lib
computes them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ticksmith.indicators.base import (
    Indicator,
    IndicatorState,
    Outputs,
    Params,
    PeriodParams,
    check_int,
    scatter,
    shifted,
)
from ticksmith.indicators.columns import BarColumns, Floats, Ints, Rows
from ticksmith.indicators.kernels.extremes import RollingExtreme, rolling_extreme
from ticksmith.indicators.kernels.rowstate import RowState, previous
from ticksmith.indicators.kernels.smoothing import EmaStep, Seeded, WilderStep, seeded_series
from ticksmith.indicators.kernels.window import WindowSum, window_sums


@dataclass(frozen=True, slots=True)
class RsiParams(PeriodParams):
    """RSI (Wilder): average gain and average loss of the close-to-close changes,
    each seeded with the mean of the first `period` changes and smoothed by
    Wilder's ``avg = (avg * (period - 1) + x) / period``; then
    ``rsi = 100 * gain / (gain + loss)``, 0 when both are 0 (TA-Lib RSI)."""

    period: int = 14
    MIN_PERIOD = 2
    READS_PREVIOUS_CLOSE = True


def rsi_of(gain: Floats, loss: Floats) -> Floats:
    total = gain + loss
    ratio = np.divide(gain, total, out=np.zeros(len(total)), where=total != 0.0)
    return 100.0 * ratio


class RsiState(IndicatorState):
    def __init__(self, params: RsiParams, capacity: int) -> None:
        super().__init__(params.lookback, capacity)
        self._previous = previous(capacity)
        self._gain = Seeded(params.period, WilderStep(params.period), capacity)
        self._loss = Seeded(params.period, WilderStep(params.period), capacity)

    def _parts(self) -> tuple[RowState, ...]:
        return (self._previous, self._gain, self._loss)

    def _step(self, rows: Rows, bars: BarColumns, t: Ints) -> Outputs:
        before = self._previous.swap(rows, bars.close)
        has = t >= 1
        change = bars.close[has] - before[has]
        gain = self._gain.push(rows[has], np.maximum(change, 0.0))
        loss = self._loss.push(rows[has], np.maximum(-change, 0.0))
        return {"rsi": scatter(has, rsi_of(gain, loss))}

    def _resume(self, row: int, bars: BarColumns) -> Outputs:
        change = bars.close - self._previous.then(row, bars.close)
        gain = self._gain.continued(row, np.maximum(change, 0.0))
        loss = self._loss.continued(row, np.maximum(-change, 0.0))
        return {"rsi": rsi_of(gain, loss)}


def rsi_backfill(bars: BarColumns, params: RsiParams, phase: int) -> Outputs:
    change = bars.close[1:] - bars.close[:-1]
    gain = seeded_series(np.maximum(change, 0.0), params.period, WilderStep(params.period))
    loss = seeded_series(np.maximum(-change, 0.0), params.period, WilderStep(params.period))
    return {"rsi": shifted(rsi_of(gain, loss), 1, len(bars))}


RSI = Indicator("rsi", RsiParams, ("rsi",), RsiState, rsi_backfill)


@dataclass(frozen=True, slots=True)
class MacdParams(Params):
    """MACD: fast EMA minus slow EMA of the close, its signal line (an EMA of the
    MACD line) and the histogram (line minus signal), as TA-Lib MACD computes them:
    the fast EMA's seed window ends on the same bar as the slow one's (bar
    ``slow - 1``), so the fast EMA starts ``slow - fast`` bars late; the signal EMA
    is seeded with the mean of the first `signal` MACD values."""

    fast: int = 12
    slow: int = 26
    signal: int = 9

    def __post_init__(self) -> None:
        check_int("fast", self.fast, 2)
        check_int("slow", self.slow, self.fast)
        check_int("signal", self.signal, 1)

    @property
    def lookback(self) -> int:
        return self.slow - 1 + self.signal - 1


class MacdState(IndicatorState):
    def __init__(self, params: MacdParams, capacity: int) -> None:
        super().__init__(params.lookback, capacity)
        self._p = params
        self._fast = Seeded(params.fast, EmaStep(params.fast), capacity)
        self._slow = Seeded(params.slow, EmaStep(params.slow), capacity)
        self._signal = Seeded(params.signal, EmaStep(params.signal), capacity)

    def _parts(self) -> tuple[RowState, ...]:
        return (self._fast, self._slow, self._signal)

    def _step(self, rows: Rows, bars: BarColumns, t: Ints) -> Outputs:
        slow = self._slow.push(rows, bars.close)
        late = t >= self._p.slow - self._p.fast
        fast = scatter(late, self._fast.push(rows[late], bars.close[late]))
        line = fast - slow
        has = t >= self._p.slow - 1
        signal = scatter(has, self._signal.push(rows[has], line[has]))
        return {"line": line, "signal": signal, "hist": line - signal}

    def _resume(self, row: int, bars: BarColumns) -> Outputs:
        line = self._fast.continued(row, bars.close) - self._slow.continued(row, bars.close)
        signal = self._signal.continued(row, line)
        return {"line": line, "signal": signal, "hist": line - signal}


def macd_backfill(bars: BarColumns, params: MacdParams, phase: int) -> Outputs:
    n, start = len(bars), params.slow - params.fast
    slow = seeded_series(bars.close, params.slow, EmaStep(params.slow))
    fast = seeded_series(bars.close[start:], params.fast, EmaStep(params.fast))
    line = shifted(fast, start, n) - slow
    first = params.slow - 1
    signal = seeded_series(line[first:], params.signal, EmaStep(params.signal))
    signal = shifted(signal, first, n)
    return {"line": line, "signal": signal, "hist": line - signal}


MACD = Indicator("macd", MacdParams, ("line", "signal", "hist"), MacdState, macd_backfill)


@dataclass(frozen=True, slots=True)
class StochParams(Params):
    """Stochastic oscillator, TA-Lib STOCH with its default SMA smoothing:
    fast %K = ``(close - lowest low) / ((highest high - lowest low) / 100)`` over
    `fastk` bars (0 when the range is 0); %K (slow) = SMA of fast %K over `slowk`;
    %D = SMA of %K over `slowd`. Both outputs start at the same bar, like TA-Lib."""

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


def stoch_backfill(bars: BarColumns, params: StochParams, phase: int) -> Outputs:
    n, first_fast = len(bars), params.fastk - 1
    high = rolling_extreme(np.maximum, bars.high, params.fastk, phase)
    low = rolling_extreme(np.minimum, bars.low, params.fastk, phase)
    fast = fast_k(bars.close, high, low)[first_fast:]
    k = window_sums(fast, params.slowk, phase) / params.slowk
    first_k = params.slowk - 1
    d = window_sums(k[first_k:], params.slowd, phase) / params.slowd
    return {"k": shifted(k, first_fast, n), "d": shifted(d, first_fast + first_k, n)}


STOCH = Indicator("stoch", StochParams, ("k", "d"), StochState, stoch_backfill)
