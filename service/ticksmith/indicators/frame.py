"""A symbol's indicator frame: its closed bars plus every configured indicator."""

from __future__ import annotations

import pandas as pd

from ticksmith.config import IndicatorSettings
from ticksmith.indicators.moving import ema, sma


def indicator_frame(bars: pd.DataFrame, settings: IndicatorSettings) -> pd.DataFrame:
    close = bars["close"].to_numpy()
    columns = {f"sma_{p}": sma(close, p) for p in settings.sma_periods}
    columns |= {f"ema_{p}": ema(close, p) for p in settings.ema_periods}
    return bars.assign(**columns)
