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
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from ticksmith.bar import SERVED, START, START_COLUMN
from ticksmith.store.bars import Bars, served

BAR_FLOATS = tuple(f.name for f in SERVED if f.json_type == "number")
BAR_INTS = tuple(f.name for f in SERVED if f.json_type == "integer")
Floats = npt.NDArray[np.float64]
Column = npt.NDArray[np.generic]


@dataclass(frozen=True)
class Rows:
    """Closed bars and the worker's values for them, laid out as a frame's buffers
    hold them (one column per bar). Made once per batch for all its symbols, so
    each held frame takes its bars in two copies; copying column by column per
    frame cost 20 us a bar, 20 ms a second boundary with 1,000 symbols read."""

    columns: tuple[str, ...]  # the float rows' names: BAR_FLOATS, then indicators
    floats: npt.NDArray[np.float64]
    ints: npt.NDArray[np.int64]  # start, then BAR_INTS

    @classmethod
    def of(cls, columns: tuple[str, ...], bars: Bars, values: Mapping[str, Floats]) -> Rows:
        bar = {START.name: bars[START.name], **served(bars)}
        floats = np.empty((len(columns), len(bars)), np.float64)
        for i, name in enumerate(columns):
            floats[i] = bar[name] if i < len(BAR_FLOATS) else values[name]
        ints = np.empty((1 + len(BAR_INTS), len(bars)), np.int64)
        for i, name in enumerate((START.name, *BAR_INTS)):
            ints[i] = bar[name]
        return cls(columns, floats, ints)


class GrowingFrame:
    def __init__(self, indicators: Sequence[str], keep: int, capacity: int = 64) -> None:
        self.columns = (*BAR_FLOATS, *indicators)  # the rows of the float buffer
        self._names = (*(f.name for f in SERVED), *indicators)  # readers' order, after start
        self.keep = keep  # rows kept: bars.history_bars
        self._floats = np.empty((len(self.columns), capacity), np.float64)
        self._ints = np.empty((1 + len(BAR_INTS), capacity), np.int64)  # start, then BAR_INTS
        self._lo = 0  # first kept row
        self._hi = 0  # one past the last row
        self.total = 0  # rows ever appended: the store's bar count it matches
        self._snapshot: pd.DataFrame | None = None

    def __len__(self) -> int:
        return self._hi - self._lo

    @property
    def nbytes(self) -> int:
        return int(self._floats.nbytes + self._ints.nbytes)

    def append(self, bars: Bars, values: Mapping[str, Floats]) -> None:
        """Rows for closed `bars` (oldest first) with the worker's `values` for them."""
        self.append_rows(Rows.of(self.columns, bars, values), 0, len(bars))

    def append_rows(self, rows: Rows, lo: int, hi: int) -> int:
        """Bars lo:hi of `rows` (made for these columns), oldest first; returns by
        how many bytes the buffers grew."""
        n = hi - lo
        if not n:
            return 0
        grown = self._make_room(n)
        at = slice(self._hi, self._hi + n)
        self._floats[:, at] = rows.floats[:, lo:hi]
        self._ints[:, at] = rows.ints[:, lo:hi]
        self._hi += n
        self.total += n
        self._lo = max(self._lo, self._hi - self.keep)
        self._snapshot = None
        return grown

    def snapshot(self) -> pd.DataFrame:
        """The rows held now, as a DataFrame indexed by bar start (built once per
        change; its columns are views of the buffers)."""
        if self._snapshot is None:
            self._snapshot = self._frame(self._lo, self._hi)
        return self._snapshot

    @property
    def starts(self) -> npt.NDArray[np.int64]:
        """The held rows' bar starts (ns since the epoch), oldest first: a view, for
        finding a range by binary search."""
        return self._ints[0, self._lo : self._hi]

    def rows(self, lo: int, hi: int) -> dict[str, Column]:
        """Held rows lo:hi (0 is the oldest held) as columns, in the snapshot's order
        after `start` (ns since the epoch): views of the buffers, whose rows never
        change. The cost is the columns, not the rows held."""
        lo, hi = self._lo + lo, self._lo + hi
        return {START_COLUMN: self._ints[0, lo:hi], **self._views(lo, hi)}

    def _views(self, lo: int, hi: int) -> dict[str, Column]:
        """Rows lo:hi of every column but the start, in readers' order."""
        views: dict[str, Column] = {n: self._floats[i, lo:hi] for i, n in enumerate(self.columns)}
        views |= {n: self._ints[1 + i, lo:hi] for i, n in enumerate(BAR_INTS)}
        return {name: views[name] for name in self._names}

    def _frame(self, lo: int, hi: int) -> pd.DataFrame:
        start = pd.DatetimeIndex(self._ints[0, lo:hi].view("M8[ns]"), copy=False)
        index = start.tz_localize("UTC").rename(START_COLUMN)
        return pd.DataFrame(self._views(lo, hi), index=index, copy=False)

    def _make_room(self, n: int) -> int:
        """Room for `n` more rows at the end: the buffers double up to twice what is
        kept, then the kept rows move to new buffers (never overwritten in place).
        Returns by how many bytes the buffers grew."""
        capacity = self._floats.shape[1]
        if self._hi + n <= capacity:
            return 0
        before = self.nbytes
        rows = max(self._hi - self._lo, 0)
        keep = min(rows, self.keep)
        size = max(capacity if rows < capacity // 2 else 2 * capacity, keep + n, 16)
        size = min(size, max(2 * self.keep, keep + n))
        lo = self._hi - keep
        floats = np.empty((len(self.columns), size), np.float64)
        floats[:, :keep] = self._floats[:, lo : self._hi]
        ints = np.empty((self._ints.shape[0], size), np.int64)
        ints[:, :keep] = self._ints[:, lo : self._hi]
        self._floats, self._ints = floats, ints
        self._lo, self._hi = 0, keep
        return self.nbytes - before


def bars_to_frame(rows: Bars) -> pd.DataFrame:
    """Closed bars as a DataFrame of the columns readers get (``bar.SERVED``),
    indexed by bar start."""
    start = pd.to_datetime(rows[START.name], unit="ns", utc=True).rename(START_COLUMN)
    return pd.DataFrame(served(rows), index=start)


def ticks_to_frame(rows: Mapping[str, npt.NDArray[np.generic]]) -> pd.DataFrame:
    """Kept ticks (the store's columns) as a DataFrame indexed by event time."""
    frame = pd.DataFrame({n: rows[n] for n in ("price", "size", "side")})
    frame.index = pd.to_datetime(rows["ts_ns"], unit="ns", utc=True).rename("ts")
    return frame
