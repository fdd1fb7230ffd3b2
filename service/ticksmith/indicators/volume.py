"""Indicators of traded volume: OBV, and the rolling VWAP of every trade in the
window."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ticksmith.indicators.base import (
    Indicator,
    IndicatorState,
    Outputs,
    Params,
    PeriodParams,
)
from ticksmith.indicators.columns import BarColumns, Floats, Ints, Rows
from ticksmith.indicators.kernels.rowstate import Column, RowState, previous
from ticksmith.indicators.kernels.window import WindowSum, window_sums


@dataclass(frozen=True, slots=True)
class ObvParams(Params):
    """OBV: starts at the first bar's volume, then adds the volume of a bar that
    closes up and subtracts the volume of one that closes down (TA-Lib OBV)."""

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


def obv_backfill(bars: BarColumns, params: ObvParams, phase: int) -> Outputs:
    signed = signed_volume(bars.close[1:], bars.close[:-1], bars.volume[1:])
    return {"obv": np.add.accumulate(np.concatenate((bars.volume[:1], signed)))}


OBV = Indicator("obv", ObvParams, ("obv",), ObvState, obv_backfill)


@dataclass(frozen=True, slots=True)
class VwapParams(PeriodParams):
    """Rolling VWAP over the last `period` bars:
    ``Σ vwap·volume / Σ volume`` — each bar's VWAP times its volume is its traded
    notional, so this is the VWAP of every trade in the window. Bars without
    volume (VWAP NaN) add nothing; a window without any volume is NaN. Not in
    TA-Lib; pinned against ``talib.SUM`` of the same products."""

    period: int = 20


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


def vwap_backfill(bars: BarColumns, params: VwapParams, phase: int) -> Outputs:
    sums = (
        window_sums(x, params.period, phase) for x in (notional(bars), bars.volume, traded(bars))
    )
    return {"vwap": ratio(*sums)}


VWAP = Indicator("vwap", VwapParams, ("vwap",), VwapState, vwap_backfill)
