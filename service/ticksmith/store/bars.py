"""Time bars, built a whole batch at a time.

A bar covers ``[start_ns, start_ns + interval_ns)`` of event time. Bars of the
finest interval are aggregated from ticks; coarser intervals (multiples of the
finest) are rolled up from closed finer bars, so a tick is aggregated once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ticksmith.bar import SERVED, STORED, VWAP
from ticksmith.store.kernels import aggregate, left_sums

BAR_DTYPE = np.dtype([(field.name, field.dtype) for field in STORED])  # fields: ticksmith.bar
Bars = npt.NDArray[np.void]
Ints = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class Segments:
    """Bars of one batch: one row per run of (symbol code, bar start), with its code."""

    code: Ints
    bars: Bars


def _runs(code: Ints, start_ns: npt.NDArray[np.int64]) -> tuple[Ints, Ints]:
    change = (code[1:] != code[:-1]) | (start_ns[1:] != start_ns[:-1])
    first = np.concatenate(([0], np.flatnonzero(change) + 1))
    last = np.concatenate((first[1:] - 1, [len(code) - 1]))
    return first, last


def segment(
    code: Ints,
    start_ns: npt.NDArray[np.int64],
    price: npt.NDArray[np.float64],
    size: npt.NDArray[np.float64],
) -> Segments:
    """Aggregate ticks grouped by (code, start) in time order into bars (volume
    and notional summed tick by tick, in that order: kernels.aggregate)."""
    code, start, *fields = aggregate(
        np.ascontiguousarray(code, np.intp),
        np.ascontiguousarray(start_ns, np.int64),
        np.ascontiguousarray(price, np.float64),
        np.ascontiguousarray(size, np.float64),
    )
    return segments(code, start, fields)


def segments(code: Ints, start: npt.NDArray[np.int64], fields: Sequence[Any]) -> Segments:
    """Segments of aggregated columns: open, high, low, close, volume, notional, count."""
    bars = np.empty(len(code), dtype=BAR_DTYPE)
    bars["start_ns"] = start
    for name, column in zip(_AGGREGATED, fields, strict=True):
        bars[name] = column
    return Segments(code=code, bars=bars)


_AGGREGATED = ("open", "high", "low", "close", "volume", "notional", "count")


def rollup(
    code: Ints,
    start_ns: npt.NDArray[np.int64],
    bars: Bars,
    at: Ints | None = None,
    earlier: Bars | None = None,
) -> Segments:
    """Aggregate finer bars grouped by (code, coarser start) in time order; runs `at`
    continue the bars `earlier` (of the same start). Volume and notional are added
    bar by bar after the earlier bar's (a left fold, as ticks are into a bar), so
    the same finer bars give the same bits however batches cut them."""
    if len(code) == 0:
        return Segments(code=code, bars=np.empty(0, dtype=BAR_DTYPE))
    if at is None or earlier is None:
        at, earlier = np.empty(0, np.intp), np.empty(0, BAR_DTYPE)
    first, last = _runs(code, start_ns)
    out = np.empty(len(first), dtype=BAR_DTYPE)
    out["start_ns"] = start_ns[first]
    out["open"] = bars["open"][first]
    out["close"] = bars["close"][last]
    out["high"] = np.maximum.reduceat(bars["high"], first)
    out["low"] = np.minimum.reduceat(bars["low"], first)
    out["count"] = np.add.reduceat(bars["count"], first)
    for name in ("volume", "notional"):
        seed = np.zeros(len(first))
        seed[at] = earlier[name]
        out[name] = left_sums(first, np.ascontiguousarray(bars[name]), seed)
    _continued(out, at, earlier)
    return Segments(code=code[first], bars=out)


def _continued(bars: Bars, at: Ints, earlier: Bars) -> None:
    """bars[at] ← `earlier` followed by bars[at], but for the sums (added already)."""
    bars["open"][at] = earlier["open"]
    bars["high"][at] = np.maximum(earlier["high"], bars["high"][at])
    bars["low"][at] = np.minimum(earlier["low"], bars["low"][at])
    bars["count"][at] += earlier["count"]


def run_starts(code: Ints, start_ns: npt.NDArray[np.int64]) -> Ints:
    """Where each run of equal (code, start) begins."""
    return _runs(code, start_ns)[0] if len(code) else code


def no_bars(n: int) -> Bars:
    """`n` empty slots: start_ns is the NO_BAR sentinel."""
    rows = np.zeros(n, dtype=BAR_DTYPE)
    rows["start_ns"] = NO_BAR
    return rows


NO_BAR = np.iinfo(np.int64).min


def vwap(bars: Bars) -> npt.NDArray[np.float64]:
    """Volume-weighted average price; NaN for a bar with zero volume."""
    volume = bars["volume"]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(volume > 0, bars["notional"] / volume, np.nan)


def served(bars: Bars) -> dict[str, npt.NDArray[np.generic]]:
    """The columns readers get of `bars` (``bar.SERVED``, in order): the stored
    ones as views, VWAP computed."""
    return {f.name: vwap(bars) if f is VWAP else bars[f.name] for f in SERVED}
