"""RSI (Wilder): average gain and average loss of the close-to-close changes,
each seeded with the mean of the first `period` changes and smoothed by
Wilder's ``avg = (avg * (period - 1) + x) / period``; then
``rsi = 100 * gain / (gain + loss)``, 0 when both are 0 (TA-Lib RSI)."""

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
from ticksmith.indicators.kernels.rowstate import RowState, previous
from ticksmith.indicators.kernels.smoothing import Seeded, WilderStep, seeded_series


@dataclass(frozen=True, slots=True)
class RsiParams(Params):
    period: int = 14

    def __post_init__(self) -> None:
        check_int("period", self.period, 2)

    @property
    def lookback(self) -> int:
        return self.period


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


def backfill(bars: BarColumns, params: RsiParams, phase: int) -> Outputs:
    change = bars.close[1:] - bars.close[:-1]
    gain = seeded_series(np.maximum(change, 0.0), params.period, WilderStep(params.period))
    loss = seeded_series(np.maximum(-change, 0.0), params.period, WilderStep(params.period))
    return {"rsi": shifted(rsi_of(gain, loss), 1, len(bars))}


INDICATOR = Indicator("rsi", RsiParams, ("rsi",), RsiState, backfill)
