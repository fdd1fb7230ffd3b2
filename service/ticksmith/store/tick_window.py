"""Every symbol's recent ticks in one set of 2-D columns: a row per slot, a ring per row.

A batch is appended for all its symbols at once by one compiled loop over its
ticks (store/kernels.py), so the cost is per tick, not per symbol per batch.
Rows start narrow and every row widens together (doubling) until the capacity,
before any row wraps: while the width is below the capacity no row holds more
ticks than the width, so widening is a plain copy. At the capacity each row is
a ring: tick ``k`` of a slot (counting from its first) lives at column
``k % capacity``.

Memory is ``rows x width x 25`` bytes: every row is as wide as the busiest
symbol needs, up to ``window.ticks_per_symbol``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ticksmith.store.groups import Groups
from ticksmith.store.kernels import scatter

Ints = npt.NDArray[np.intp]
Columns = dict[str, npt.NDArray[Any]]
COLUMNS = (("ts_ns", np.int64), ("price", np.float64), ("size", np.float64), ("side", np.int8))
ROW_BYTES = sum(np.dtype(dtype).itemsize for _, dtype in COLUMNS)  # per tick
SPARE_BYTES = 64 << 20  # the most memory made ready ahead of a widening


@dataclass(frozen=True)
class Wider:
    """The window's columns (and ticks per row) copied wider or with more rows, and
    which state of the window they copy."""

    columns: Columns
    total: npt.NDArray[np.int64]
    width: int
    changes: int


@dataclass(frozen=True)
class Spare:
    """Columns of a shape (rows, width), every page of them written once."""

    shape: tuple[int, int]
    columns: Columns

    @classmethod
    def made(cls, shape: tuple[int, int]) -> Spare:
        """Run it in a thread: numpy writes the pages without holding the GIL."""
        columns = {name: np.empty(shape, dtype) for name, dtype in COLUMNS}
        for column in columns.values():
            column.fill(0)
        return cls(shape, columns)


class TickWindow:
    def __init__(self, capacity: int, rows: int = 64, width: int = 16) -> None:
        self.capacity = capacity
        self._width = min(width, capacity)
        self.total = np.zeros(rows, dtype=np.int64)  # ticks ever appended per slot
        self._cols = {name: np.empty((rows, self._width), dtype) for name, dtype in COLUMNS}
        self._changes = 0  # appends, clears and growths: what a copy must not miss
        self._spare: Spare | None = None  # the next widening's columns, made ahead

    @property
    def nbytes(self) -> int:
        spare = self._spare.columns.values() if self._spare is not None else ()
        return int(self.total.nbytes + sum(c.nbytes for c in (*self._cols.values(), *spare)))

    def spare_wanted(self) -> tuple[int, int] | None:
        """The shape of the next widening's columns, when it is near (the busiest row
        holds half the width) and its columns are not ready: to be made ahead
        (``Spare.made``, in a thread) and kept (:meth:`keep_spare`), so the widening
        copies into pages already written. Writing a page the first time can be slow
        (~30 us on a VM whose host backs its memory lazily: ~200 ms for 1,000 symbols'
        rows at 1,024 ticks, which the batch waited for). None past SPARE_BYTES."""
        if self.full_width or 2 * int(self.total.max(initial=0)) < self._width:
            return None
        shape = self._next_shape()
        ready = self._spare is not None and self._spare.shape == shape
        return None if ready or shape[0] * shape[1] * ROW_BYTES > SPARE_BYTES else shape

    def keep_spare(self, spare: Spare) -> None:
        """Keep `spare` if it still fits the next widening (the window may have
        widened, or grown rows, while it was made)."""
        self._spare = spare if spare.shape == self._next_shape() else None

    def _next_shape(self) -> tuple[int, int]:
        return len(self.total), min(self.capacity, 2 * self._width)

    def ensure_rows(self, rows: int) -> None:
        if (wider := self.widened(self._width, rows)) is not None:
            self.adopt(wider)

    def clear(self, slots: Ints) -> None:
        self.total[slots] = 0
        self._changes += 1

    def append(self, groups: Groups, columns: Mapping[str, npt.NDArray[Any]]) -> None:
        """Append ticks: `columns` per tick, `groups` their slots (arrival order kept
        within a slot)."""
        if not len(groups.order):
            return
        counts = groups.counts
        self._widen(int((self.total[groups.slots] + counts).max()))
        self._changes += 1
        cols = self._cols
        scatter(
            np.repeat(groups.slots, counts),
            groups.order,
            self.total,
            *(cols[name] for name, _ in COLUMNS),
            *(np.ascontiguousarray(columns[name], dtype) for name, dtype in COLUMNS),
        )

    def rows_of(self, slot: int) -> dict[str, npt.NDArray[np.generic]]:
        """One slot's kept ticks, oldest first (copies)."""
        total = int(self.total[slot])
        n = min(total, self.capacity)
        at = (np.arange(total - n, total)) % self._width
        return {name: col[slot, at] for name, col in self._cols.items()}

    @property
    def width(self) -> int:
        return self._width

    @property
    def rows(self) -> int:
        return len(self.total)

    @property
    def full_width(self) -> bool:
        """Every row is as wide as the capacity: the window never widens again."""
        return self._width == self.capacity

    def widened(self, needed: int, rows: int = 0) -> Wider | None:
        """The columns copied `needed` ticks wide (at least doubling, up to the
        capacity) and at least `rows` rows (growing by half), or None when they are
        that wide and have that many. Only reads the window, so it may run in
        another thread while nothing appends (numpy copies without the GIL): a copy
        of every row held the event loop 30-97 ms at 1,000 symbols. :meth:`adopt`
        puts the copy in place."""
        have = len(self.total)
        wide = needed <= self._width or self.full_width
        if wide and rows <= have:
            return None
        width = self._width if wide else min(self.capacity, max(needed, 2 * self._width))
        grown = have if rows <= have else max(rows, have + have // 2)
        total = np.zeros(grown, np.int64)
        total[:have] = self.total
        spare, self._spare = self._spare, None  # of this shape, or of no more use
        ready = spare.columns if spare is not None and spare.shape == (grown, width) else None
        wider = {}
        for name, col in self._cols.items():
            wider[name] = ready[name] if ready else np.empty((grown, width), col.dtype)
            wider[name][:have, : self._width] = col
        return Wider(wider, total, width, self._changes)

    def adopt(self, wider: Wider) -> None:
        """A copy from :meth:`widened`, unless the window changed since it was made
        (then the next append widens it anew)."""
        if wider.changes == self._changes:
            self._cols, self.total, self._width = wider.columns, wider.total, wider.width
            self._changes += 1

    def _widen(self, needed: int) -> None:
        if (wider := self.widened(needed)) is not None:
            self.adopt(wider)
