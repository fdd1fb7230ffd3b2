"""Accepted ticks whose finest bar has not closed yet: the reorder buffer.

Ticks wait here, in arrival order, until their bar's end plus the allowed
lateness is behind the symbol's watermark (its newest event time). Then they
leave as bars, aggregated in (slot, bar start, event time) order, so ticks that
arrived out of order within the lateness land in the right bar, in time order.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ticksmith.store.bars import Segments, segment, segments
from ticksmith.store.buffer_kernels import release_bars

Ints = npt.NDArray[np.intp]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Ticks = tuple[Ints, I64, F64, F64]  # slot, ts, price, size


NOTHING = np.iinfo(np.int64).max  # the earliest pending bar start of a slot with none


class Pending:
    """The buffer grows by doubling, so adding costs what is added; each slot's
    earliest pending bar start is kept, so a release that is due for no slot
    costs one comparison per slot instead of one per pending tick."""

    def __init__(self) -> None:
        self._n = 0
        self._slot: Ints = np.empty(0, dtype=np.intp)
        self._ts: I64 = np.empty(0, dtype=np.int64)
        self._price: F64 = np.empty(0, dtype=np.float64)
        self._size: F64 = np.empty(0, dtype=np.float64)
        self._earliest: I64 = np.empty(0, dtype=np.int64)  # per slot
        self._released: Ticks = _empty()  # the kernel's room for the ticks it releases

    def __len__(self) -> int:
        return self._n

    @property
    def slot(self) -> Ints:
        return self._slot[: self._n]

    @property
    def ts(self) -> I64:
        return self._ts[: self._n]

    @property
    def price(self) -> F64:
        return self._price[: self._n]

    @property
    def size(self) -> F64:
        return self._size[: self._n]

    @property
    def nbytes(self) -> int:
        arrays = (self._slot, self._ts, self._price, self._size, self._earliest, *self._released)
        return sum(int(a.nbytes) for a in arrays)

    def add(self, slot: Ints, ts: I64, price: F64, size: F64, fine_ns: int) -> None:
        k = len(ts)
        if not k:
            return
        self._reserve(self._n + k, int(slot.max()) + 1)
        at = slice(self._n, self._n + k)
        self._slot[at], self._ts[at], self._price[at], self._size[at] = slot, ts, price, size
        self._n += k
        np.minimum.at(self._earliest, slot, ts - ts % fine_ns)

    def release_bars(
        self, fine_ns: int, closed_before: I64, arriving: Ticks | None = None
    ) -> Segments:
        """Remove the ticks whose finest bar starts before `closed_before[slot]` and
        return the bars they make with the `arriving` ticks (already closed, newer
        than every pending one, after them): ``segment`` of all of them sorted by
        (slot, bar start, ts), stably. Made as the ticks are taken out when each
        slot's are in time order; sorted and aggregated when not."""
        slots = min(len(self._earliest), len(closed_before))
        due = bool(self._n) and bool((self._earliest[:slots] < closed_before[:slots]).any())
        if not due and arriving is None:
            return segment(self.slot[:0], self.ts[:0], self.price[:0], self.size[:0])
        came = _arriving(arriving) if arriving is not None else _empty()
        scanned = self._n if due else 0  # 0: the buffer is left as it is
        ordered, slot, ts, price, size, code, start, *fields, kept = release_bars(
            self._slot,
            self._ts,
            self._price,
            self._size,
            scanned,
            fine_ns,
            _per_slot(closed_before, len(self._earliest)),
            self._earliest,
            *came,
            *self._room(scanned + len(came[0])),
        )
        if due:
            self._n = kept
        if ordered:
            return segments(code, start, fields)
        start = ts - ts % fine_ns
        order = np.lexsort((ts, start, slot))
        return segment(slot[order], start[order], price[order], size[order])

    def _room(self, n: int) -> Ticks:
        """Room for `n` released ticks, grown by doubling and kept for the next release."""
        if n > len(self._released[0]):
            size = max(n, 2 * len(self._released[0]))
            self._released = tuple(np.empty(size, a.dtype) for a in self._released)  # type: ignore[assignment]
        return self._released

    def drop_slots(self, slots: Ints, fine_ns: int) -> None:
        self._keep(~np.isin(self.slot, slots), fine_ns)

    def _keep(self, keep: npt.NDArray[np.bool_], fine_ns: int) -> None:
        """Keep only the pending ticks where `keep`, in order; recompute the earliest starts."""
        k = int(keep.sum())
        if k == self._n:
            return
        for column in (self._slot, self._ts, self._price, self._size):
            column[:k] = column[: self._n][keep]
        self._n = k
        self._earliest[:] = NOTHING
        np.minimum.at(self._earliest, self.slot, self.ts - self.ts % fine_ns)

    def _reserve(self, n: int, slots: int) -> None:
        if n > len(self._ts):
            capacity = max(n, 2 * len(self._ts), 1024)
            for name in ("_slot", "_ts", "_price", "_size"):
                old = getattr(self, name)
                new = np.empty(capacity, dtype=old.dtype)
                new[: self._n] = old[: self._n]
                setattr(self, name, new)
        if slots > len(self._earliest):
            grown = np.full(max(slots, 2 * len(self._earliest)), NOTHING, np.int64)
            grown[: len(self._earliest)] = self._earliest
            self._earliest = grown

    def of_slot(self, slot: int) -> tuple[I64, F64, F64]:
        """One slot's pending ticks in time order (for the provisional bar)."""
        mine = self.slot == slot
        order = np.argsort(self.ts[mine], kind="stable")
        return self.ts[mine][order], self.price[mine][order], self.size[mine][order]


def _per_slot(closed_before: I64, slots: int) -> I64:
    """`closed_before` for every slot of the buffer: slots it does not reach close nothing."""
    if len(closed_before) >= slots:
        return np.ascontiguousarray(closed_before, np.int64)
    padded = np.full(slots, np.iinfo(np.int64).min, np.int64)
    padded[: len(closed_before)] = closed_before
    return padded


def _arriving(ticks: Ticks) -> tuple[Ints, I64, F64, F64]:
    slot, ts, price, size = ticks
    return (
        np.ascontiguousarray(slot, np.intp),
        np.ascontiguousarray(ts, np.int64),
        np.ascontiguousarray(price, np.float64),
        np.ascontiguousarray(size, np.float64),
    )


def _empty() -> tuple[Ints, I64, F64, F64]:
    return (
        np.empty(0, np.intp),
        np.empty(0, np.int64),
        np.empty(0, np.float64),
        np.empty(0, np.float64),
    )
