"""Accepted ticks whose finest bar has not closed yet: the reorder buffer.

Ticks wait here, in arrival order, until their bar's end plus the allowed
lateness is behind the symbol's watermark (its newest event time). Then they
leave sorted by (slot, bar start, event time), so ticks that arrived out of
order within the lateness land in the right bar, in time order.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ticksmith.store.groups import stable_order

Ints = npt.NDArray[np.intp]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Ticks = tuple[Ints, I64, F64, F64]  # slot, ts, price, size


class Pending:
    def __init__(self) -> None:
        self.slot: Ints = np.empty(0, dtype=np.intp)
        self.ts: I64 = np.empty(0, dtype=np.int64)
        self.price: F64 = np.empty(0, dtype=np.float64)
        self.size: F64 = np.empty(0, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def nbytes(self) -> int:
        return int(self.slot.nbytes + self.ts.nbytes + self.price.nbytes + self.size.nbytes)

    def add(self, slot: Ints, ts: I64, price: F64, size: F64) -> None:
        self.slot = np.concatenate((self.slot, slot))
        self.ts = np.concatenate((self.ts, ts))
        self.price = np.concatenate((self.price, price))
        self.size = np.concatenate((self.size, size))

    def release(
        self, fine_ns: int, closed_before: I64, arriving: Ticks | None = None
    ) -> tuple[Ints, I64, F64, F64]:
        """Remove and return the ticks whose finest bar starts before
        `closed_before[slot]`, sorted by (slot, bar start, ts), stably. `arriving`
        ticks (already closed, newer than every pending one) join the released
        ones without passing through the buffer."""
        start = self.ts - self.ts % fine_ns
        out = start < closed_before[self.slot]
        parts: list[Ticks] = [(self.slot[out], self.ts[out], self.price[out], self.size[out])]
        if out.any():
            keep = ~out
            self.slot, self.ts, self.price, self.size = (
                self.slot[keep],
                self.ts[keep],
                self.price[keep],
                self.size[keep],
            )
        if arriving is not None:
            parts.append(arriving)
        if len(parts) > 1:
            slot = np.concatenate([p[0] for p in parts])
            ts = np.concatenate([p[1] for p in parts])
            price = np.concatenate([p[2] for p in parts])
            size = np.concatenate([p[3] for p in parts])
        else:
            slot, ts, price, size = parts[0]
        if not len(slot):
            return slot, ts, price, size
        order = stable_order(slot, int(slot.max()) + 1)
        s, t = slot[order], ts[order]
        if (t[1:] < t[:-1])[s[1:] == s[:-1]].any():  # out of time order within a slot
            order = np.lexsort((ts, ts - ts % fine_ns, slot))
        return slot[order], ts[order], price[order], size[order]

    def drop_slots(self, slots: Ints) -> None:
        keep = ~np.isin(self.slot, slots)
        self.slot, self.ts, self.price, self.size = (
            self.slot[keep],
            self.ts[keep],
            self.price[keep],
            self.size[keep],
        )

    def of_slot(self, slot: int) -> tuple[I64, F64, F64]:
        """One slot's pending ticks in time order (for the provisional bar)."""
        mine = self.slot == slot
        order = np.argsort(self.ts[mine], kind="stable")
        return self.ts[mine][order], self.price[mine][order], self.size[mine][order]
