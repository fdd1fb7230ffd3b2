"""Grouping a batch's ticks by slot, once per batch, with numpy's radix sort."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.intp]


def stable_order(keys: Ints, upper: int) -> Ints:
    """``argsort(keys, kind="stable")`` for keys in ``[0, upper)``: keys that fit in
    16 bits are sorted as such, which numpy does with a radix sort (~5x faster)."""
    if upper <= np.iinfo(np.uint16).max:
        keys = keys.astype(np.uint16)
    return np.argsort(keys, kind="stable")


@dataclass(frozen=True, slots=True)
class Groups:
    """Ticks ordered by slot (arrival order kept within a slot) and cut into runs."""

    order: Ints  # tick positions, grouped by slot
    starts: Ints  # where each slot's run begins in `order`
    counts: Ints  # ticks per run
    slots: Ints  # the slot of each run

    @classmethod
    def of(cls, slot: Ints, upper: int) -> Groups:
        order = stable_order(slot, upper)
        ordered = slot[order]
        starts = np.flatnonzero(np.r_[len(slot) > 0, ordered[1:] != ordered[:-1]])
        counts = np.diff(np.r_[starts, len(ordered)])
        return cls(order, starts, counts, ordered[starts])

    def rank(self) -> Ints:
        """Position of each ordered tick within its run."""
        return np.arange(len(self.order)) - np.repeat(self.starts, self.counts)

    def first_in_run(self) -> npt.NDArray[np.bool_]:
        """Per ordered tick: whether it starts its run."""
        first = np.zeros(len(self.order), dtype=bool)
        first[self.starts] = True
        return first
