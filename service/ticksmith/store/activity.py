"""Activity bars: tick, volume and dollar bars, closed by the tick that reaches a threshold.

Each bar set keeps one forming bar per symbol slot, fed with a step's accepted
ticks in arrival order (``kernels.activity``: one compiled pass, no Python per
tick). The whole tick that reaches the threshold goes into the bar it completes,
and the next bar starts empty: nothing is split or carried over.

Anchoring (docs/bars.md): the sequence restarts at every multiple of
``anchor_ns`` since the epoch (UTC). A tick of a later anchor period first
closes the symbol's forming bar as it is (under its threshold), so a bar never
spans an anchor, and a replay that starts at or before the period's start
rebuilds the forming bar exactly. A symbol's period only moves forward: a tick
accepted out of order (within ``bars.lateness_ms``) joins the forming bar.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ticksmith.bar import MEASURE, ActivitySet
from ticksmith.store.bars import BAR_DTYPE, Bars
from ticksmith.store.kernels import activity

Ints = npt.NDArray[np.intp]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Closes = dict[str, tuple[Bars, Ints]]  # label -> closed bars grouped by slot, and their slots

_FIELDS = ("open", "high", "low", "close", "volume", "notional")
_MEASURES = tuple(MEASURE)  # the kernel's measure code: its index here
_NO_PERIOD = np.iinfo(np.int64).min


class ActivityBars:
    """The forming bars of one activity bar set, a row per slot."""

    def __init__(self, bar_set: ActivitySet, anchor_ns: int, slots: int = 64) -> None:
        self.bar_set = bar_set
        self._anchor_ns = anchor_ns
        self._measure = _MEASURES.index(bar_set.kind)
        self._period: I64 = np.full(slots, _NO_PERIOD, np.int64)
        self._start: I64 = np.zeros(slots, np.int64)
        self._forming: F64 = np.zeros((slots, len(_FIELDS)), np.float64)
        self._count: I64 = np.zeros(slots, np.int64)

    @property
    def nbytes(self) -> int:
        arrays = (self._period, self._start, self._forming, self._count)
        return sum(int(a.nbytes) for a in arrays)

    def ensure(self, slots: int) -> None:
        if slots <= len(self._count):
            return
        more = max(slots, 2 * len(self._count)) - len(self._count)
        self._period = np.concatenate((self._period, np.full(more, _NO_PERIOD, np.int64)))
        self._start = np.concatenate((self._start, np.zeros(more, np.int64)))
        self._forming = np.concatenate((self._forming, np.zeros((more, len(_FIELDS)))))
        self._count = np.concatenate((self._count, np.zeros(more, np.int64)))

    def clear(self, slots: Ints) -> None:
        self._period[slots] = _NO_PERIOD
        self._count[slots] = 0

    def feed(self, slot: Ints, ts: I64, price: F64, size: F64) -> tuple[Bars, Ints]:
        """Add ticks (arrival order); return the bars they closed, grouped by slot."""
        out_slot, start, fields, count = activity(  # the kernel's signature takes writeable arrays
            np.require(slot, np.intp, ["C", "W"]),
            np.require(ts, np.int64, ["C", "W"]),
            np.require(price, np.float64, ["C", "W"]),
            np.require(size, np.float64, ["C", "W"]),
            self._measure,
            float(self.bar_set.threshold),
            self._anchor_ns,
            self._period,
            self._start,
            self._forming,
            self._count,
        )
        return _grouped(out_slot, start, fields, count)

    def flush(self, slots: Ints) -> tuple[Bars, Ints]:
        """Close the forming bars of `slots` as they are (the symbols are forgotten)."""
        slots = slots[self._count[slots] > 0]
        bars = _grouped(slots, self._start[slots], self._forming[slots], self._count[slots])
        self._count[slots] = 0
        return bars

    def forming(self, slot: int) -> Bars:
        """The slot's bar in progress (none, or one row); reading changes nothing."""
        at = np.arange(slot, slot + 1)[self._count[slot : slot + 1] > 0]
        return _grouped(at, self._start[at], self._forming[at], self._count[at])[0]


def _grouped(slot: Ints, start: I64, fields: F64, count: I64) -> tuple[Bars, Ints]:
    order = np.argsort(slot, kind="stable")
    bars = np.empty(len(slot), BAR_DTYPE)
    bars["start_ns"], bars["count"] = start[order], count[order]
    for i, name in enumerate(_FIELDS):
        bars[name] = fields[order, i]
    return bars, slot[order]


class ActivitySets:
    """Every configured activity bar set of the store."""

    def __init__(self, bar_sets: Sequence[ActivitySet], anchor_ms: int) -> None:
        self.anchor_ns = anchor_ms * 1_000_000
        self.sets = {s.label: ActivityBars(s, self.anchor_ns) for s in bar_sets}

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.sets)

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.sets.values())

    def ensure(self, slots: int) -> None:
        for bars in self.sets.values():
            bars.ensure(slots)

    def clear(self, slots: Ints) -> None:
        for bars in self.sets.values():
            bars.clear(slots)

    def feed(self, slot: Ints, ts: I64, price: F64, size: F64, expiring: Ints) -> Closes:
        """Every set's bars closed by the ticks, then the forming bars of `expiring` slots."""
        out: Closes = {}
        for label, bars in self.sets.items():
            rows, slots = bars.feed(slot, ts, price, size)
            if len(expiring):
                last, last_slots = bars.flush(expiring)
                both = np.concatenate((slots, last_slots))
                order = np.argsort(both, kind="stable")
                rows, slots = np.concatenate((rows, last))[order], both[order]
            out[label] = (rows, slots)
        return out
