"""A symbol's bars and indicator values as a frame the indicator worker appends to.

The cache holds one per (symbol, interval) that a reader asked for. Each batch,
the worker appends the rows of the bars that closed, so no read rebuilds the
history because a bar closed. Readers get :meth:`GrowingFrame.snapshot`, a
pandas DataFrame over the rows present when it was taken; rows are only ever
appended after the end of a snapshot, and when the buffers fill they are
copied to new ones (old snapshots keep the old), so a snapshot's rows never
change under its reader.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from ticksmith.store.bars import Bars, vwap

BAR_FLOATS = ("open", "high", "low", "close", "volume", "vwap")
Floats = npt.NDArray[np.float64]


class GrowingFrame:
    def __init__(self, indicators: Sequence[str], keep: int, capacity: int = 64) -> None:
        self.columns = (*BAR_FLOATS, *indicators)
        self.keep = keep  # rows kept: bars.history_bars
        self._floats = np.empty((len(self.columns), capacity), np.float64)
        self._start = np.empty(capacity, np.int64)
        self._count = np.empty(capacity, np.int64)
        self._lo = 0  # first kept row
        self._hi = 0  # one past the last row
        self.total = 0  # rows ever appended: the store's bar count it matches
        self._snapshot: pd.DataFrame | None = None

    def __len__(self) -> int:
        return self._hi - self._lo

    @property
    def nbytes(self) -> int:
        return int(self._floats.nbytes + self._start.nbytes + self._count.nbytes)

    def append(self, bars: Bars, values: Mapping[str, Floats]) -> None:
        """Rows for closed `bars` (oldest first) with the worker's `values` for them."""
        n = len(bars)
        if not n:
            return
        self._make_room(n)
        at = slice(self._hi, self._hi + n)
        self._start[at] = bars["start_ns"]
        self._count[at] = bars["count"]
        for i, name in enumerate(self.columns):
            if name == "vwap":
                self._floats[i, at] = vwap(bars)
            elif i < len(BAR_FLOATS):
                self._floats[i, at] = bars[name]
            else:
                self._floats[i, at] = values[name]
        self._hi += n
        self.total += n
        self._lo = max(self._lo, self._hi - self.keep)
        self._snapshot = None

    def snapshot(self) -> pd.DataFrame:
        """The rows held now, as a DataFrame indexed by bar start (built once per
        change; its columns are views of the buffers)."""
        if self._snapshot is None:
            self._snapshot = self._frame(self._lo, self._hi)
        return self._snapshot

    def tail(self, limit: int) -> dict[str, npt.NDArray[np.generic]]:
        """The last `limit` rows as columns, in the snapshot's order after `start`
        (ns since the epoch): views of the buffers, whose rows never change. The
        cost is the columns, not the rows held."""
        lo, hi = max(self._lo, self._hi - limit), self._hi
        bars = len(BAR_FLOATS)
        out: dict[str, npt.NDArray[np.generic]] = {"start": self._start[lo:hi]}
        out |= {name: self._floats[i, lo:hi] for i, name in enumerate(self.columns[:bars])}
        out["count"] = self._count[lo:hi]
        out |= {name: self._floats[bars + i, lo:hi] for i, name in enumerate(self.columns[bars:])}
        return out

    def _frame(self, lo: int, hi: int) -> pd.DataFrame:
        column: dict[str, npt.NDArray[np.generic]] = {
            name: self._floats[i, lo:hi] for i, name in enumerate(self.columns)
        }
        names = [*BAR_FLOATS, "count", *self.columns[len(BAR_FLOATS) :]]
        column["count"] = self._count[lo:hi]
        start = pd.DatetimeIndex(self._start[lo:hi].view("M8[ns]"), copy=False)
        index = start.tz_localize("UTC").rename("start")
        return pd.DataFrame({n: column[n] for n in names}, index=index, copy=False)

    def _make_room(self, n: int) -> None:
        """Room for `n` more rows at the end: the buffers double up to twice what is
        kept, then the kept rows move to new buffers (never overwritten in place)."""
        capacity = self._start.shape[0]
        if self._hi + n <= capacity:
            return
        rows = max(self._hi - self._lo, 0)
        keep = min(rows, self.keep)
        size = max(capacity if rows < capacity // 2 else 2 * capacity, keep + n, 16)
        size = min(size, max(2 * self.keep, keep + n))
        lo = self._hi - keep
        floats = np.empty((len(self.columns), size), np.float64)
        floats[:, :keep] = self._floats[:, lo : self._hi]
        start = np.empty(size, np.int64)
        start[:keep] = self._start[lo : self._hi]
        count = np.empty(size, np.int64)
        count[:keep] = self._count[lo : self._hi]
        self._floats, self._start, self._count = floats, start, count
        self._lo, self._hi = 0, keep


def bars_to_frame(rows: Bars) -> pd.DataFrame:
    """Closed bars as a DataFrame: OHLCV, VWAP and trade count, indexed by bar start."""
    frame = pd.DataFrame({n: rows[n] for n in ("open", "high", "low", "close", "volume")})
    frame["vwap"] = vwap(rows)
    frame["count"] = rows["count"]
    frame.index = pd.to_datetime(rows["start_ns"], unit="ns", utc=True).rename("start")
    return frame


def ticks_to_frame(rows: Mapping[str, npt.NDArray[np.generic]]) -> pd.DataFrame:
    """Kept ticks (the store's columns) as a DataFrame indexed by event time."""
    frame = pd.DataFrame({n: rows[n] for n in ("price", "size", "side")})
    frame.index = pd.to_datetime(rows["ts_ns"], unit="ns", utc=True).rename("ts")
    return frame
