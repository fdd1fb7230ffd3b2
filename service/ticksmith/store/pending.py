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
from ticksmith.store.buffer_kernels import compact, release_bars
from ticksmith.store.running import NOTHING, fold_in, release_running

Ints = npt.NDArray[np.intp]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Ticks = tuple[Ints, I64, F64, F64]  # slot, ts, price, size


class Pending:
    """The buffer grows by doubling, so adding costs what is added. Each slot's
    earliest pending bar start is kept, so a release that is due for no slot
    costs one comparison per slot instead of one per pending tick; and each
    slot's running bar (running.py), so a release whose due slots all have one
    costs what it releases. The ticks it released stay in the buffer, dead,
    until adding would grow it while at least half of it is dead."""

    def __init__(self) -> None:
        self._n = 0  # positions used, dead ones included
        self._dead = 0
        self._slot: Ints = np.empty(0, dtype=np.intp)
        self._ts: I64 = np.empty(0, dtype=np.int64)
        self._price: F64 = np.empty(0, dtype=np.float64)
        self._size: F64 = np.empty(0, dtype=np.float64)
        # per slot (running.py): earliest, live, dead_until, running, last_ts, forming
        self._earliest: I64 = np.empty(0, dtype=np.int64)
        self._live: I64 = np.empty(0, dtype=np.int64)
        self._dead_until: Ints = np.empty(0, dtype=np.intp)
        self._running = np.empty(0, dtype=np.bool_)
        self._last_ts: I64 = np.empty(0, dtype=np.int64)
        self._forming = np.empty((0, 6), dtype=np.float64)
        self._released: Ticks = _empty()  # the kernel's room for the ticks it releases

    def __len__(self) -> int:
        return self._n - self._dead

    @property
    def slot(self) -> Ints:
        return self._slot[: self._n][self._alive()]

    @property
    def ts(self) -> I64:
        return self._ts[: self._n][self._alive()]

    @property
    def price(self) -> F64:
        return self._price[: self._n][self._alive()]

    @property
    def size(self) -> F64:
        return self._size[: self._n][self._alive()]

    @property
    def nbytes(self) -> int:
        arrays = (self._slot, self._ts, self._price, self._size, *self._state(), *self._released)
        return sum(int(a.nbytes) for a in arrays)

    def add(self, slot: Ints, ts: I64, price: F64, size: F64, fine_ns: int) -> None:
        k = len(ts)
        if not k:
            return
        self._reserve(self._n + k, int(slot.max()) + 1)
        at = slice(self._n, self._n + k)
        self._slot[at], self._ts[at], self._price[at], self._size[at] = slot, ts, price, size
        fold_in(*self._columns(), self._n, self._n + k, fine_ns, *self._state())
        self._n += k

    def release_bars(
        self, fine_ns: int, closed_before: I64, arriving: Ticks | None = None
    ) -> Segments:
        """Remove the ticks whose finest bar starts before `closed_before[slot]` and
        return the bars they make with the `arriving` ticks (already closed, newer
        than every pending one, after them): ``segment`` of all of them sorted by
        (slot, bar start, ts), stably. From the due slots' running bars when they
        all have one; else made as the ticks are taken out when each slot's are in
        time order; sorted and aggregated when not."""
        slots = min(len(self._earliest), len(closed_before))
        due = np.flatnonzero(self._earliest[:slots] < closed_before[:slots])
        if not len(due) and arriving is None:
            return segment(self._slot[:0], self._ts[:0], self._price[:0], self._size[:0])
        came = _arriving(arriving) if arriving is not None else _empty()
        done, code, start, *fields, released = release_running(
            due, *came, self._n, fine_ns, *self._state()
        )
        if done:
            self._dead += released
            return segments(code, start, fields)
        return self._scan(fine_ns, closed_before, came, self._n if len(due) else 0)

    def _scan(self, fine_ns: int, closed_before: I64, came: Ticks, scanned: int) -> Segments:
        """Release by a pass over the first `scanned` positions (0: the buffer is left
        as it is), which also drops the dead ticks; the running bars are then
        folded again from the ticks kept."""
        ordered, slot, ts, price, size, code, start, *fields, kept = release_bars(
            self._slot,
            self._ts,
            self._price,
            self._size,
            scanned,
            fine_ns,
            _per_slot(closed_before, len(self._earliest)),
            self._dead_until,
            *came,
            *self._room(scanned + len(came[0])),
        )
        if scanned:
            self._n, self._dead = kept, 0
            self._refold(fine_ns)
        if ordered:
            return segments(code, start, fields)
        start = ts - ts % fine_ns
        order = np.lexsort((ts, start, slot))
        return segment(slot[order], start[order], price[order], size[order])

    def _refold(self, fine_ns: int) -> None:
        """Every slot's running bar and earliest start, from the ticks in the buffer
        (none of them dead)."""
        self._earliest[:], self._live[:], self._dead_until[:] = NOTHING, 0, 0
        fold_in(*self._columns(), 0, self._n, fine_ns, *self._state())

    def _columns(self) -> Ticks:
        return self._slot, self._ts, self._price, self._size

    def _state(self) -> tuple[I64, I64, Ints, npt.NDArray[np.bool_], I64, npt.NDArray[np.float64]]:
        return (
            self._earliest,
            self._live,
            self._dead_until,
            self._running,
            self._last_ts,
            self._forming,
        )

    def _alive(self) -> npt.NDArray[np.bool_]:
        """Which of the first `_n` positions hold a tick not yet released."""
        return np.arange(self._n) >= self._dead_until[self._slot[: self._n]]

    def _room(self, n: int) -> Ticks:
        """Room for `n` released ticks, grown by doubling and kept for the next release."""
        if n > len(self._released[0]):
            size = max(n, 2 * len(self._released[0]))
            self._released = tuple(np.empty(size, a.dtype) for a in self._released)  # type: ignore[assignment]
        return self._released

    def drop_slots(self, slots: Ints, fine_ns: int) -> None:
        held = slots[slots < len(self._earliest)]
        self._dead_until[held] = self._n  # all of their ticks
        self._earliest[held], self._live[held] = NOTHING, 0
        self._compact()

    def _compact(self) -> None:
        """Drop the dead ticks, keeping the others in order."""
        self._n = compact(*self._columns(), self._n, self._dead_until)
        self._dead = 0
        self._dead_until[:] = 0

    def _reserve(self, n: int, slots: int) -> None:
        if n > len(self._ts) and 2 * self._dead >= self._n:
            adding = n - self._n
            self._compact()
            n = self._n + adding
        if n > len(self._ts):
            capacity = max(n, 2 * len(self._ts), 1024)
            for name in ("_slot", "_ts", "_price", "_size"):
                old = getattr(self, name)
                new = np.empty(capacity, dtype=old.dtype)
                new[: self._n] = old[: self._n]
                setattr(self, name, new)
        if slots > len(self._earliest):
            self._grow_slots(max(slots, 2 * len(self._earliest)))

    def _grow_slots(self, slots: int) -> None:
        for name, fill in (
            ("_earliest", NOTHING),
            ("_live", 0),
            ("_dead_until", 0),
            ("_running", False),
            ("_last_ts", 0),
            ("_forming", 0.0),
        ):
            old = getattr(self, name)
            new = np.full((slots, *old.shape[1:]), fill, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def of_slot(self, slot: int) -> tuple[I64, F64, F64]:
        """One slot's pending ticks in time order (for the provisional bar)."""
        mine = self._slot[: self._n] == slot
        if slot < len(self._dead_until):
            mine[: self._dead_until[slot]] = False
        order = np.argsort(self._ts[: self._n][mine], kind="stable")
        return (
            self._ts[: self._n][mine][order],
            self._price[: self._n][mine][order],
            self._size[: self._n][mine][order],
        )


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
