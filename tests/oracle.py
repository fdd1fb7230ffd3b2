"""Offline recomputation of bars with plain pandas: the oracle the store is checked against."""

from __future__ import annotations

import numpy as np
import pandas as pd

BAR_COLUMNS = ["open", "high", "low", "close", "volume", "vwap", "count"]
DAY_NS = 86_400 * 10**9


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
    bars = _aggregate(t.groupby(["symbol", "start_ns"], sort=True))
    newest = t.groupby("symbol")["ts"].max()
    start = bars.index.get_level_values("start_ns").to_numpy()
    symbol = bars.index.get_level_values("symbol")
    closed = start + interval_ns + lateness_ns <= newest.loc[symbol].to_numpy()
    return bars[closed][BAR_COLUMNS]


def calendar_bins(
    ts: np.ndarray, interval_ns: int, zone: str, origin: pd.Timestamp
) -> tuple[np.ndarray, np.ndarray]:
    """Each time's bar start and end (ns UTC) as pandas bins it:
    ``resample(freq, origin=<origin's date>, offset=<its time of day>)`` on the
    times in `zone` (`origin`: naive, local). A whole number of days is a pandas
    ``Day`` resampled on wall time, the zone's days (pandas ignores origin and
    offset for ``Day`` on tz-aware times since 3.0); any other interval is
    resampled on the tz-aware times, equally spaced in absolute time."""
    midnight = origin.normalize()
    days, rest = divmod(interval_ns, DAY_NS)
    aware = pd.DatetimeIndex(ts.astype("datetime64[ns]")).tz_localize("UTC").tz_convert(zone)
    if rest:
        axis, freq, anchor = aware, pd.Timedelta(interval_ns, "ns"), midnight.tz_localize(zone)
    else:
        axis, freq, anchor = aware.tz_localize(None), pd.offsets.Day(days), midnight
    every = pd.Series(0, index=axis.sort_values())
    bins = every.resample(freq, origin=anchor, offset=origin - midnight).count().index
    bins = bins.as_unit("ns")
    start = bins[np.searchsorted(bins.asi8, axis.as_unit("ns").asi8, side="right") - 1]
    end = start + freq
    if not rest:
        start, end = start.tz_localize(zone), end.tz_localize(zone)
    return start.asi8, end.asi8


def offline_calendar_bars(
    ticks: pd.DataFrame, interval_ns: int, zone: str, origin: pd.Timestamp
) -> pd.DataFrame:
    """Every bar of `ticks` (as for :func:`offline_bars`) binned by
    :func:`calendar_bins`, closed or not: with its `end_ns` and whether it is
    `closed` (its end at or behind the symbol's newest tick)."""
    t = ticks.sort_values(["symbol", "ts"], kind="stable")
    start, end = calendar_bins(t["ts"].to_numpy(np.int64), interval_ns, zone, origin)
    t = t.assign(start_ns=start, end_ns=end, notional=t["price"] * t["size"])
    bars = _aggregate(t.groupby(["symbol", "start_ns"], sort=True), end_ns=("end_ns", "first"))
    newest = t.groupby("symbol")["ts"].max()
    symbol = bars.index.get_level_values("symbol")
    bars["closed"] = bars["end_ns"].to_numpy() <= newest.loc[symbol].to_numpy()
    return bars[[*BAR_COLUMNS, "end_ns", "closed"]]


def assert_bars_equal(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    """OHLC, volume (integral sizes) and count bit for bit; VWAP, a ratio of float
    sums added in a different order, to 1e-12 relative."""
    missing = expected.index.difference(actual.index)
    extra = actual.index.difference(expected.index)
    assert missing.empty and extra.empty, (
        f"{len(missing)} bars missing, first {list(missing[:3])}; "
        f"{len(extra)} not expected, first {list(extra[:3])}"
    )
    assert list(actual.index) == list(expected.index)
    exact = [c for c in BAR_COLUMNS if c != "vwap"]
    pd.testing.assert_frame_equal(
        actual[exact], expected[exact], check_exact=True, check_dtype=False
    )
    np.testing.assert_allclose(actual["vwap"], expected["vwap"], rtol=1e-12, atol=0)


def offline_activity_bars(
    ticks: pd.DataFrame, measure: str, threshold: float, anchor_ns: int
) -> pd.DataFrame:
    """Closed activity bars of `ticks` (columns symbol, ts, price, size, in partition
    order, none late): per symbol, in that order, the count, volume or notional
    (`measure`) of the forming bar is summed tick by tick; the tick that brings it
    to `threshold` is the bar's last, and the next bar starts from nothing. A tick
    of a later anchor period (ts // anchor_ns) first closes the bar as it is.
    Indexed by (symbol, start_ns), with `partial`: closed at the anchor."""
    t = ticks.reset_index(drop=True)
    t = t.assign(notional=t["price"] * t["size"], anchor=t["ts"] - t["ts"] % anchor_ns)
    bar_of = np.empty(len(t), np.int64)
    closed: dict[int, bool] = {}  # bar id -> reached its threshold
    next_id = 0
    for _, rows in t.groupby("symbol", sort=True):
        bar, total, open_, period = -1, 0.0, False, -1
        for i, size, notional, anchor in zip(
            rows.index, rows["size"], rows["notional"], rows["anchor"], strict=True
        ):
            if open_ and anchor != period:
                closed[bar], open_ = False, False
            period = anchor
            if not open_:
                bar, total, open_, next_id = next_id, 0.0, True, next_id + 1
            total += {"count": 1.0, "volume": size, "notional": notional}[measure]
            bar_of[i] = bar
            if total >= threshold:
                closed[bar], open_ = True, False
    by_bar = t.assign(bar=bar_of).groupby("bar", sort=True)
    bars = _aggregate(by_bar, symbol=("symbol", "first"), start_ns=("ts", "first"))
    bars = bars[bars.index.isin(list(closed))]
    bars["partial"] = ~bars.index.map(closed).astype(bool)
    return bars.set_index(["symbol", "start_ns"])[[*BAR_COLUMNS, "partial"]]


def _aggregate(groups: pd.core.groupby.DataFrameGroupBy, **more: tuple[str, str]) -> pd.DataFrame:
    """Each group of ticks (in time order, with a notional column) as one bar:
    `more` columns, then OHLC, volume, notional, count and VWAP."""
    bars = groups.agg(
        **more,
        open=("price", "first"),
        high=("price", "max"),
        low=("price", "min"),
        close=("price", "last"),
        volume=("size", "sum"),
        notional=("notional", "sum"),
        count=("price", "size"),
    )
    bars["vwap"] = np.where(bars["volume"] > 0, bars["notional"] / bars["volume"], np.nan)
    return bars
