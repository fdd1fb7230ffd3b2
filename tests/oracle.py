"""Offline recomputation of bars with plain pandas: the oracle the store is checked against."""

from __future__ import annotations

import numpy as np
import pandas as pd

BAR_COLUMNS = ["open", "high", "low", "close", "volume", "vwap", "count"]


def offline_bars(ticks: pd.DataFrame, interval_ns: int, lateness_ns: int = 0) -> pd.DataFrame:
    """Closed bars of `ticks` (columns symbol, ts, price, size, in partition order),
    none of them late.

    Ticks are taken in event-time order (ties in arrival order); a bar is closed
    once its end plus the lateness is at or behind the symbol's newest tick.
    Indexed by (symbol, start_ns).
    """
    t = ticks.sort_values(["symbol", "ts"], kind="stable")
    t = t.assign(start_ns=t["ts"] - t["ts"] % interval_ns)
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
    newest = t.groupby("symbol")["ts"].max()
    start = bars.index.get_level_values("start_ns").to_numpy()
    symbol = bars.index.get_level_values("symbol")
    closed = start + interval_ns + lateness_ns <= newest.loc[symbol].to_numpy()
    return bars[closed][BAR_COLUMNS]


def assert_bars_equal(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    """OHLC, volume (integral sizes) and count bit for bit; VWAP, a ratio of float
    sums added in a different order, to 1e-12 relative."""
    assert list(actual.index) == list(expected.index)
    exact = [c for c in BAR_COLUMNS if c != "vwap"]
    pd.testing.assert_frame_equal(
        actual[exact], expected[exact], check_exact=True, check_dtype=False
    )
    np.testing.assert_allclose(actual["vwap"], expected["vwap"], rtol=1e-12, atol=0)
