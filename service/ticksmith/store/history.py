"""The newest rows appended, up to a capacity: a symbol's closed bars at one interval.

A growable ring buffer of structured rows, the store's bounded memory.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


class RowHistory:
    """Keeps the newest `capacity` rows; grows by doubling up to it, so quiet
    symbols cost little."""

    __slots__ = ("_buf", "_capacity", "_next", "_raw", "total")

    def __init__(self, dtype: np.dtype[np.void], capacity: int, initial: int = 16) -> None:
        self._capacity = capacity
        self._set(np.empty(min(initial, capacity), dtype=dtype))
        self._next = 0  # write position once the buffer is full-size and wrapping
        self.total = 0  # rows ever appended

    def __len__(self) -> int:
        return min(self.total, self._capacity)

    @property
    def nbytes(self) -> int:
        return int(self._buf.nbytes)

    def extend(
        self, rows: npt.NDArray[np.void], raw: npt.NDArray[np.uint8] | None = None
    ) -> npt.NDArray[np.void]:
        """Append `rows`; return the rows that no longer fit, oldest first (kept
        rows pushed out, then any of `rows` too old to keep). `raw`: the rows' bytes,
        one row of them per row, when the caller has them (a view of many symbols'
        rows at once costs less than one per symbol)."""
        added = len(rows)  # all count, even those too old to keep
        if added == 1 and raw is not None and self.total < len(self._buf):
            return self._put(rows, raw[0])  # one closed bar, room for it: every boundary
        if not added:
            return rows
        held = min(self.total, self._capacity)
        over = held + added - self._capacity
        evicted = rows[:0] if over <= 0 else self._evicted(over, rows)
        if added > self._capacity:
            rows, raw = rows[-self._capacity :], None
        n = len(rows)
        self._grow(held + n)
        if raw is None:  # copied as bytes: a structured copy goes field by field, slower
            raw = np.ascontiguousarray(rows).view(np.uint8).reshape(n, -1)
        start = self._next
        end = start + n
        size = len(self._buf)
        if end <= size:
            self._raw[start:end] = raw
        else:
            split = size - start
            self._raw[start:] = raw[:split]
            self._raw[: n - split] = raw[split:]
        self._next = end % size
        self.total += added
        return evicted

    def _put(self, rows: npt.NDArray[np.void], raw: npt.NDArray[np.uint8]) -> npt.NDArray[np.void]:
        """Append one row to a ring that has room for it (nothing is pushed out)."""
        self._raw[self._next] = raw
        self._next = (self._next + 1) % len(self._buf)
        self.total += 1
        return rows[:0]

    def _evicted(self, over: int, rows: npt.NDArray[np.void]) -> npt.NDArray[np.void]:
        """The `over` rows that appending `rows` pushes out, oldest first: the oldest
        kept rows (one or two slices of the ring), then the oldest of `rows`. Once a
        history is full every bar that closes pushes one out, so this is kept to
        slices (a gather and a concatenation cost 20 us a bar)."""
        held = len(self)
        kept = min(over, held)
        size = len(self._buf)
        first = (self._next - held) % size
        if first + kept <= size:
            oldest = self._buf[first : first + kept].copy()
        else:
            oldest = np.concatenate((self._buf[first:], self._buf[: first + kept - size]))
        return oldest if over == kept else np.concatenate((oldest, rows[: over - kept]))

    def _grow(self, needed: int) -> None:
        size = len(self._buf)
        if needed <= size or size == self._capacity:
            return
        ordered = self.to_array()
        new_size = min(self._capacity, max(needed, 2 * size))
        self._set(np.empty(new_size, dtype=self._buf.dtype))
        self._buf[: len(ordered)] = ordered
        self._next = len(ordered) % new_size

    def _set(self, buf: npt.NDArray[np.void]) -> None:
        self._buf = buf
        self._raw = buf.view(np.uint8).reshape(len(buf), buf.dtype.itemsize)

    def to_array(self) -> npt.NDArray[np.void]:
        """The kept rows, oldest first, as a new array."""
        n = len(self)
        if n < len(self._buf) or self._next == 0:
            return self._buf[:n].copy() if n < len(self._buf) else self._buf.copy()
        return np.concatenate((self._buf[self._next :], self._buf[: self._next]))
