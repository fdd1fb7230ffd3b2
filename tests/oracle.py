"""Offline recomputation of bars with plain pandas: the oracle the store is checked against."""

from __future__ import annotations

import numpy as np
import pandas as pd

BAR_COLUMNS = ["open", "high", "low", "close", "volume", "vwap", "count"]


def offline_bars(ticks: pd.DataFrame, interval_ns: int) -> pd.DataFrame:
    """Closed bars of `ticks` (columns symbol, ts, price, size, in partition order).

    Every bar but each symbol's last is closed, since only a later tick closes a bar.
    Indexed by (symbol, start_ns).
    """
    t = ticks.assign(start_ns=ticks["ts"] - ticks["ts"] % interval_ns)
    t = t.assign(notional=t["price"] * t["size"])
    g = t.groupby(["symbol", "start_ns"], sort=True)
    bars = g.agg(
        open=("price", "first"),
        high=("price", "max"),
        low=("price", "min"),
        close=("price", "last"),
        volume=("size", "sum"),
        notional=("notional", "sum"),
        count=("price", "size"),
    )
    bars["vwap"] = np.where(bars["volume"] > 0, bars["notional"] / bars["volume"], np.nan)
    last = bars.groupby(level="symbol").tail(1).index
    return bars.drop(index=last)[BAR_COLUMNS]


def assert_bars_equal(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    """OHLC, volume (integral sizes) and count bit for bit; VWAP, a ratio of float
    sums added in a different order, to 1e-12 relative."""
    assert list(actual.index) == list(expected.index)
    exact = [c for c in BAR_COLUMNS if c != "vwap"]
    pd.testing.assert_frame_equal(
        actual[exact], expected[exact], check_exact=True, check_dtype=False
    )
    np.testing.assert_allclose(actual["vwap"], expected["vwap"], rtol=1e-12, atol=0)
