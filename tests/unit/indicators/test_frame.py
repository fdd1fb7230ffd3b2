"""indicator_frame: the cache's view, computed by the backfill path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

from tests.unit.indicators.series import random_walk
from ticksmith.indicators import indicator_frame, parse_specs


def bars_frame(n: int) -> pd.DataFrame:
    bars = random_walk(n, seed=9)
    columns = {f: getattr(bars, f) for f in ("open", "high", "low", "close", "volume", "vwap")}
    index = pd.to_datetime(np.arange(n) * 1_000_000_000, utc=True).rename("start")
    return pd.DataFrame(columns | {"count": np.ones(n, np.int64)}, index=index)


def test_frame_has_the_bars_and_one_column_per_output() -> None:
    bars = bars_frame(300)
    specs = parse_specs({"rsi": [{"period": 14}], "bbands": [{"period": 20}]})
    frame = indicator_frame(bars, specs)
    assert list(frame.columns) == [*bars.columns, *specs[0].columns, *specs[1].columns]
    pd.testing.assert_frame_equal(frame[bars.columns], bars)
    np.testing.assert_allclose(frame["rsi_14"], talib.RSI(bars["close"].to_numpy(), 14), 1e-9)


def test_empty_history_gives_empty_columns() -> None:
    frame = indicator_frame(bars_frame(0), parse_specs({"macd": [{}], "obv": [{}]}))
    assert len(frame) == 0 and "macd_12_26_9_hist" in frame
