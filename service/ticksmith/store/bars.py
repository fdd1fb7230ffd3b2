"""Time bars built a whole batch at a time.

A bar covers ``[start_ns, start_ns + interval_ns)`` of event time. It closes when
a tick of a later bar of the same symbol arrives. Open and close are the first
and last tick in partition order (which is event order for an in-order feed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

BAR_DTYPE = np.dtype(
    [
        ("start_ns", np.int64),
        ("open", np.float64),
        ("high", np.float64),
        ("low", np.float64),
        ("close", np.float64),
        ("volume", np.float64),
        ("notional", np.float64),
        ("count", np.int64),
    ]
)
Bars = npt.NDArray[np.void]


@dataclass(frozen=True, slots=True)
class Segments:
    """Partial bars of one batch: one row per run of (symbol code, bar start)."""

    code: npt.NDArray[np.intp]
    bars: Bars


def segment(
    code: npt.NDArray[np.intp],
    start_ns: npt.NDArray[np.int64],
    price: npt.NDArray[np.float64],
    size: npt.NDArray[np.float64],
) -> Segments:
    """Aggregate ticks already grouped by symbol code (stable) into partial bars."""
    if len(code) == 0:
        return Segments(code=code, bars=np.empty(0, dtype=BAR_DTYPE))
    change = (code[1:] != code[:-1]) | (start_ns[1:] != start_ns[:-1])
    first = np.concatenate(([0], np.flatnonzero(change) + 1))
    last = np.concatenate((first[1:] - 1, [len(code) - 1]))
    bars = np.empty(len(first), dtype=BAR_DTYPE)
    bars["start_ns"] = start_ns[first]
    bars["open"] = price[first]
    bars["close"] = price[last]
    bars["high"] = np.maximum.reduceat(price, first)
    bars["low"] = np.minimum.reduceat(price, first)
    bars["volume"] = np.add.reduceat(size, first)
    bars["notional"] = np.add.reduceat(price * size, first)
    bars["count"] = last - first + 1
    return Segments(code=code[first], bars=bars)


def vwap(bars: Bars) -> npt.NDArray[np.float64]:
    """Volume-weighted average price; NaN for a bar with zero volume."""
    volume = bars["volume"]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(volume > 0, bars["notional"] / volume, np.nan)
