"""OBV: starts at the first bar's volume, then adds the volume of a bar that
closes up and subtracts the volume of one that closes down (TA-Lib OBV)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ticksmith.indicators.base import Indicator, IndicatorState, Outputs, Params
from ticksmith.indicators.columns import BarColumns, Floats, Ints, Rows
from ticksmith.indicators.kernels.rowstate import Column, RowState, previous


@dataclass(frozen=True, slots=True)
class ObvParams(Params):
    @property
    def lookback(self) -> int:
        return 0


def signed_volume(close: Floats, close_before: Floats, volume: Floats) -> Floats:
    return np.sign(close - close_before) * volume


class ObvState(IndicatorState):
    def __init__(self, params: ObvParams, capacity: int) -> None:
        super().__init__(params.lookback, capacity)
        self._previous = previous(capacity)
        self._obv = Column(capacity, 0.0)

    def _parts(self) -> tuple[RowState, ...]:
        return (self._previous, self._obv)

    def _step(self, rows: Rows, bars: BarColumns, t: Ints) -> Outputs:
        before = self._previous.swap(rows, bars.close)
        moved = self._obv.values[rows] + signed_volume(bars.close, before, bars.volume)
        obv = np.where(t == 0, bars.volume, moved)
        self._obv.values[rows] = obv
        return {"obv": obv}

    def _resume(self, row: int, bars: BarColumns) -> Outputs:
        before = self._previous.then(row, bars.close)
        signed = signed_volume(bars.close, before, bars.volume)
        return {"obv": np.add.accumulate(np.r_[self._obv.values[row], signed])[1:]}


def backfill(bars: BarColumns, params: ObvParams, phase: int) -> Outputs:
    signed = signed_volume(bars.close[1:], bars.close[:-1], bars.volume[1:])
    return {"obv": np.add.accumulate(np.concatenate((bars.volume[:1], signed)))}


INDICATOR = Indicator("obv", ObvParams, ("obv",), ObvState, backfill)
