"""Moving averages over bar closes, vectorised, with TA-Lib's conventions:
the first ``period - 1`` values are NaN, and the EMA is seeded with the SMA of
its first ``period`` inputs, then smoothed with ``k = 2 / (period + 1)``."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

Floats = npt.NDArray[np.float64]


def sma(close: Floats, period: int) -> Floats:
    return pd.Series(close).rolling(period, min_periods=period).mean().to_numpy()


def ema(close: Floats, period: int) -> Floats:
    out = np.full(len(close), np.nan)
    if len(close) < period:
        return out
    seeded = close[period - 1 :].copy()
    seeded[0] = close[:period].mean()
    out[period - 1 :] = pd.Series(seeded).ewm(alpha=2 / (period + 1), adjust=False).mean()
    return out
