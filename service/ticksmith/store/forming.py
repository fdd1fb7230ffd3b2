"""Bars in progress, read without changing any state: a symbol's ticks still in
the reorder buffer aggregated at the finest interval, and for a coarser one
rolled up and merged with the forming bar its rollup holds."""

from __future__ import annotations

import numpy as np

from ticksmith.store.bars import NO_BAR, Bars, rollup, segment
from ticksmith.store.calendar import Buckets
from ticksmith.store.pending import F64, I64


def fine_forming(ticks: tuple[I64, F64, F64], fine_ns: int) -> Bars:
    """Provisional finest bars (newest last) from one slot's pending ticks, in time order."""
    ts, price, size = ticks
    code = np.zeros(len(ts), dtype=np.intp)
    return segment(code, ts - ts % fine_ns, price, size).bars


def coarse_forming(ticks: tuple[I64, F64, F64], fine_ns: int, buckets: Buckets, held: Bars) -> Bars:
    """Provisional bars of a coarser interval (`buckets`): `held`, the rollup's forming
    bar for the slot (one row), merged with the bars the pending ticks make."""
    fine = fine_forming(ticks, fine_ns)
    start = buckets.start(fine["start_ns"])
    code = np.zeros(len(fine), np.intp)
    if held["start_ns"][0] == NO_BAR:
        return rollup(code, start, fine).bars
    if len(fine) and start[0] == held["start_ns"][0]:
        return rollup(code, start, fine, np.array([0]), held).bars
    return np.concatenate((held, rollup(code, start, fine).bars))
