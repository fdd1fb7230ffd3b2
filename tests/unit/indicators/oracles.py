"""What each indicator should be: TA-Lib's output, and for the windowed ones
also an exact computation (``math.fsum`` over each window).

Where TA-Lib has no such indicator (rolling VWAP, realised volatility) its
building blocks stand in: ``talib.SUM`` of the same products, ``talib.STDDEV``
of the log returns.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import talib
from numpy.lib.stride_tricks import sliding_window_view
from talib import MA_Type  # type: ignore[attr-defined]

from ticksmith.indicators import IndicatorSpec
from ticksmith.indicators.columns import BarColumns

Expected = dict[str, np.ndarray]
SMA = MA_Type.SMA


def _macd(b: BarColumns, p: Any) -> Expected:
    line, signal, hist = talib.MACD(b.close, p.fast, p.slow, p.signal)
    return {"line": line, "signal": signal, "hist": hist}


def _bbands(b: BarColumns, p: Any) -> Expected:
    upper, middle, lower = talib.BBANDS(b.close, p.period, p.nbdevup, p.nbdevdn, SMA)
    return {"upper": upper, "middle": middle, "lower": lower}


def _stoch(b: BarColumns, p: Any) -> Expected:
    k, d = talib.STOCH(b.high, b.low, b.close, p.fastk, p.slowk, SMA, p.slowd, SMA)
    return {"k": k, "d": d}


def _traded(b: BarColumns) -> tuple[np.ndarray, np.ndarray]:
    traded = b.volume > 0
    return np.where(traded, b.vwap * b.volume, 0.0), traded.astype(np.float64)


def _talib_sum(x: np.ndarray, period: int) -> np.ndarray:
    return x.copy() if period == 1 else talib.SUM(x, period)  # TA-Lib's SUM wants >= 2


def _vwap_of(notional: np.ndarray, volume: np.ndarray, count: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, notional / volume, np.nan)


def _vwap(b: BarColumns, p: Any) -> Expected:
    notional, count = _traded(b)
    sums = (_talib_sum(x, p.period) for x in (notional, b.volume, count))
    return {"vwap": _vwap_of(*sums)}


def log_returns(b: BarColumns) -> np.ndarray:
    return np.log(b.close[1:] / b.close[:-1])


def _rvol(b: BarColumns, p: Any) -> Expected:
    if p.ddof != 0 or p.period == 1:  # TA-Lib's STDDEV: population, period >= 2
        return _exact_rvol(b, p)
    return {"rvol": np.r_[np.nan, talib.STDDEV(log_returns(b), p.period, 1.0)]}


TALIB: dict[str, Callable[[BarColumns, Any], Expected]] = {
    "sma": lambda b, p: {"sma": talib.SMA(b.close, p.period)},
    "ema": lambda b, p: {"ema": talib.EMA(b.close, p.period)},
    "wma": lambda b, p: {"wma": talib.WMA(b.close, p.period)},
    "rsi": lambda b, p: {"rsi": talib.RSI(b.close, p.period)},
    "macd": _macd,
    "bbands": _bbands,
    "atr": lambda b, p: {"atr": talib.ATR(b.high, b.low, b.close, p.period)},
    "stoch": _stoch,
    "obv": lambda b, p: {"obv": talib.OBV(b.close, b.volume)},
    "vwap": _vwap,
    "rvol": _rvol,
}


def full_windows(x: np.ndarray, width: int, fn: Callable[[np.ndarray], float]) -> np.ndarray:
    """`fn` over each window of `width` (the first ``width - 1`` left NaN)."""
    out = np.full(len(x), np.nan)
    if len(x) >= width:
        out[width - 1 :] = [fn(w) for w in sliding_window_view(x, width)]
    return out


def _exact_mean(w: np.ndarray) -> float:
    return math.fsum(w) / len(w)


def _exact_m2(w: np.ndarray) -> float:
    mean = _exact_mean(w)
    return math.fsum((v - mean) ** 2 for v in w)


def _exact_wma(b: BarColumns, p: Any) -> Expected:
    weights = np.arange(1.0, p.period + 1.0)
    divider = p.period * (p.period + 1) / 2
    return {"wma": full_windows(b.close, p.period, lambda w: math.fsum(w * weights) / divider)}


def _exact_bbands(b: BarColumns, p: Any) -> Expected:
    mean = full_windows(b.close, p.period, _exact_mean)
    sigma = np.sqrt(full_windows(b.close, p.period, _exact_m2) / p.period)
    return {"upper": mean + sigma * p.nbdevup, "middle": mean, "lower": mean - sigma * p.nbdevdn}


def _exact_vwap(b: BarColumns, p: Any) -> Expected:
    notional, count = _traded(b)
    sums = (full_windows(x, p.period, math.fsum) for x in (notional, b.volume, count))
    return {"vwap": _vwap_of(*sums)}


def _exact_rvol(b: BarColumns, p: Any) -> Expected:
    m2 = full_windows(log_returns(b), p.period, _exact_m2)
    return {"rvol": np.r_[np.nan, np.sqrt(m2 / (p.period - p.ddof))]}


EXACT: dict[str, Callable[[BarColumns, Any], Expected]] = {
    "sma": lambda b, p: {"sma": full_windows(b.close, p.period, _exact_mean)},
    "wma": _exact_wma,
    "bbands": _exact_bbands,
    "vwap": _exact_vwap,
    "rvol": _exact_rvol,
}

# The natural size of each output, for an absolute floor under the relative
# tolerance: a difference of price-level quantities (MACD), an oscillator
# (RSI, %K) or a deviation (realised volatility) can be 0 where a relative
# error means nothing.
SCALE: dict[str, Callable[[BarColumns], float]] = {
    "macd": lambda b: float(np.mean(np.abs(b.close))),
    "rsi": lambda b: 100.0,
    "stoch": lambda b: 100.0,
    "obv": lambda b: float(np.sum(b.volume)) or 1.0,
    "rvol": lambda b: float(np.mean(np.abs(log_returns(b)))) if len(b) > 1 else 1.0,
}


def expected(spec: IndicatorSpec, bars: BarColumns, exact: bool = False) -> Expected:
    outputs = (EXACT if exact else TALIB)[spec.name](bars, spec.params)
    return {spec.column(name): values for name, values in outputs.items()}


def assert_close(
    spec: IndicatorSpec, bars: BarColumns, actual: Expected, exact: bool = False
) -> None:
    """Same NaN places as the oracle; elsewhere within 1e-9 relative, with an
    absolute floor of 1e-12 of the output's scale where it has one."""
    atol = 1e-12 * SCALE[spec.name](bars) if spec.name in SCALE else 0.0
    for column, want in expected(spec, bars, exact).items():
        got = actual[column]
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{column} NaNs")
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=atol, err_msg=column)
