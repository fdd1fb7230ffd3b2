"""MACD: fast EMA minus slow EMA of the close, its signal line (an EMA of the
MACD line) and the histogram (line minus signal), as TA-Lib MACD computes them:
the fast EMA's seed window ends on the same bar as the slow one's (bar
``slow - 1``), so the fast EMA starts ``slow - fast`` bars late; the signal EMA
is seeded with the mean of the first `signal` MACD values."""

from __future__ import annotations

from dataclasses import dataclass

from ticksmith.indicators.base import (
    Indicator,
    IndicatorState,
    Outputs,
    Params,
    check_int,
    scatter,
    shifted,
)
from ticksmith.indicators.columns import BarColumns, Ints, Rows
from ticksmith.indicators.kernels.rowstate import RowState
from ticksmith.indicators.kernels.smoothing import EmaStep, Seeded, seeded_series


@dataclass(frozen=True, slots=True)
class MacdParams(Params):
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


def backfill(bars: BarColumns, params: MacdParams, phase: int) -> Outputs:
    n, start = len(bars), params.slow - params.fast
    slow = seeded_series(bars.close, params.slow, EmaStep(params.slow))
    fast = seeded_series(bars.close[start:], params.fast, EmaStep(params.fast))
    line = shifted(fast, start, n) - slow
    first = params.slow - 1
    signal = seeded_series(line[first:], params.signal, EmaStep(params.signal))
    signal = shifted(signal, first, n)
    return {"line": line, "signal": signal, "hist": line - signal}


INDICATOR = Indicator("macd", MacdParams, ("line", "signal", "hist"), MacdState, backfill)
