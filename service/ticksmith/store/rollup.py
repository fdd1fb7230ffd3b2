"""Bars of a coarser interval, rolled up from closed bars of the finest one."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ticksmith.store.bars import NO_BAR, Bars, no_bars, rollup, run_starts
from ticksmith.store.calendar import Buckets

Ints = npt.NDArray[np.intp]
I64 = npt.NDArray[np.int64]


class Rollup:
    """Forming bars of one coarser interval, one row per symbol slot; where a bar
    begins and ends is the `buckets`' (store/calendar.py). Each forming bar's end
    is kept beside it, so deciding which are due costs no calendar lookup."""

    def __init__(self, buckets: Buckets) -> None:
        self.buckets = buckets
        self.forming = no_bars(64)
        self._end: I64 = np.zeros(64, np.int64)

    def ensure(self, slots: int) -> None:
        if slots > len(self.forming):
            more = max(slots, len(self.forming))
            self.forming = np.concatenate((self.forming, no_bars(more)))
            self._end = np.concatenate((self._end, np.zeros(more, np.int64)))

    def clear(self, slots: Ints) -> None:
        self.forming["start_ns"][slots] = NO_BAR

    def fold(self, slot: Ints, fine: Bars) -> tuple[Bars, Ints]:
        """Add closed finer bars (grouped by slot, in time order); return the coarser
        bars this completes (a later coarse interval began) with their slots."""
        if len(slot) == 0:
            return np.empty(0, dtype=fine.dtype), slot
        start = self.buckets.start(fine["start_ns"])
        run = run_starts(slot, start)
        first = np.r_[True, slot[run][1:] != slot[run][:-1]]  # a slot's first run
        prev = self.forming[slot[run][first]]
        same = prev["start_ns"] == start[run][first]  # continues the forming bar
        segs = rollup(slot, start, fine, np.flatnonzero(first)[same], prev[same])
        last = np.r_[segs.code[1:] != segs.code[:-1], True]
        bars = segs.bars
        closes = (prev["start_ns"] != NO_BAR) & ~same
        rows = np.concatenate((prev[closes], bars[~last]))
        slots = np.concatenate((segs.code[first][closes], segs.code[~last]))
        self.forming[segs.code[last]] = bars[last]
        self._end[segs.code[last]] = self.buckets.end(bars["start_ns"][last])
        order = np.argsort(slots, kind="stable")
        return rows[order], slots[order]

    def close_due(self, watermark: npt.NDArray[np.int64], lateness_ns: int) -> tuple[Bars, Ints]:
        """Close forming bars whose end plus lateness is at or behind the slot's watermark."""
        n = min(len(watermark), len(self.forming))
        start, end = self.forming["start_ns"][:n], self._end[:n]
        due = np.flatnonzero((start != NO_BAR) & (end + lateness_ns <= watermark[:n]))
        rows = self.forming[due].copy()
        self.forming["start_ns"][due] = NO_BAR
        return rows, due
