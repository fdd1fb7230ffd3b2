"""Event time, per symbol slot and per partition: which bars have closed, which
ticks are late, which symbols went quiet or idle.

Lateness: a tick is late when its finest bar had already closed when it
arrived, i.e. the bar's end plus ``lateness_ns`` is at or behind the newest
event time seen before it for its symbol (the watermark). This depends only on
the order of records in the partition, never on how they were batched, so a
replay closes the same bars with the same ticks.

Quiet close (``quiet_close_ms``): a symbol's watermark is also its partition's
newest event time less the deadline, so the bar of a symbol that went quiet
closes once the rest of its partition has moved that far past the bar's end.
That too depends only on the order of records, so a replay or a backlog closes
the same bars as live did. (The wall clock closes bars only through
:meth:`Store.advance`, which the pipeline calls for partitions that are idle
and caught up.)

Idle expiry (``symbol_idle_ms``): a symbol with no tick of its own for that long
of its partition's event time has its watermark moved past every bar, so its
forming bars close, and the store forgets it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ticksmith.store.bars import NO_BAR
from ticksmith.store.groups import Groups
from ticksmith.ticks import TickBatch

Ints = npt.NDArray[np.intp]
I64 = npt.NDArray[np.int64]
FAR_FUTURE = np.iinfo(np.int64).max // 2  # a watermark that closes every bar


class Watermarks:
    """Per slot: the watermark, the newest tick of its own and the replay floor
    (bars starting earlier may be partial); per partition: its newest event time."""

    def __init__(self, fine_ns: int, lateness_ns: int, quiet_ns: int, idle_ns: int) -> None:
        """`quiet_ns` 0: a bar closes only by its own symbol's ticks; `idle_ns` 0:
        symbols never expire."""
        self._fine_ns, self._lateness_ns = fine_ns, lateness_ns
        self._quiet_ns, self._idle_ns = quiet_ns, idle_ns
        self.watermark: I64 = np.full(64, NO_BAR, dtype=np.int64)  # newest event time
        self.newest: I64 = np.full(64, NO_BAR, dtype=np.int64)  # newest tick of its own
        self.floor: I64 = np.full(64, NO_BAR, dtype=np.int64)
        self._partition_time: I64 = np.full(16, NO_BAR, dtype=np.int64)

    @property
    def nbytes(self) -> int:
        return 3 * self.watermark.nbytes

    def ensure(self, slots: int) -> None:
        if slots > len(self.watermark):
            grow = np.full(len(self.watermark), NO_BAR, dtype=np.int64)
            self.watermark = np.concatenate((self.watermark, grow))
            self.newest = np.concatenate((self.newest, grow))
            self.floor = np.concatenate((self.floor, grow))

    def start(self, slot: int, floor_ns: int) -> None:
        """A new symbol in `slot`: nothing seen yet, bars before `floor_ns` partial."""
        self.watermark[slot] = self.newest[slot] = NO_BAR
        self.floor[slot] = floor_ns

    def forget(self, slots: Ints) -> None:
        for per_slot in (self.watermark, self.newest, self.floor):
            per_slot[slots] = NO_BAR

    def forget_partition(self, partition: int) -> None:
        if partition < len(self._partition_time):
            self._partition_time[partition] = NO_BAR

    def partition_clock(self, batch: TickBatch) -> I64:
        """Advance each partition's event time (its newest tick, late or not); return,
        per tick, its partition's newest event time before it, in partition order
        (only needed, and only computed, when quiet close is on)."""
        top = int(batch.partition.max()) + 1
        if top > len(self._partition_time):
            grow = np.full(top - len(self._partition_time), NO_BAR, np.int64)
            self._partition_time = np.concatenate((self._partition_time, grow))
        if not self._quiet_ns:
            np.maximum.at(self._partition_time, batch.partition, batch.ts_ns)
            return np.empty(0, np.int64)
        before = np.empty(len(batch), np.int64)
        for p in np.unique(batch.partition).tolist():
            at = np.flatnonzero(batch.partition == p)
            running = np.maximum.accumulate(batch.ts_ns[at])
            prior = self._partition_time[p]
            before[at] = np.maximum(np.r_[prior, running[:-1]], prior)
            self._partition_time[p] = max(prior, int(running[-1]))
        return before

    def late(
        self, groups: Groups, slot: Ints, ts: I64, partition_before: I64
    ) -> npt.NDArray[np.bool_]:
        """Ticks whose finest bar had closed before they arrived (see the module doc):
        compared with the newest event time before them, in this batch or before (with
        quiet close, also their partition's, less the deadline)."""
        t = ts[groups.order]
        first = groups.first_in_run()
        in_order = bool((t[1:] >= t[:-1])[~first[1:]].all())
        if in_order:  # the usual case: the newest before a tick is the one just before it
            before = np.r_[NO_BAR, t[:-1]]
        else:
            before = np.r_[NO_BAR, running_max(t, groups.rank())[:-1]]
        before[first] = NO_BAR
        before = np.maximum(before, self.watermark[slot[groups.order]])
        if self._quiet_ns:
            part = partition_before[groups.order]
            due = np.where(part == NO_BAR, NO_BAR, part - self._quiet_ns)
            before = np.maximum(before, due)
        late = np.empty(len(ts), dtype=bool)
        late[groups.order] = (t - t % self._fine_ns) < self.closed_before(before)
        return late

    def observe(self, slot: Ints, ts: I64) -> None:
        """Accepted ticks move their symbols' watermarks and newest ticks."""
        np.maximum.at(self.watermark, slot, ts)
        np.maximum.at(self.newest, slot, ts)

    def close_quiet(self, partition: Ints) -> None:
        """Quiet close: a symbol's watermark is at least its partition's event time
        minus the deadline, so its bars close when the partition moved on.
        `partition`: each slot's partition, -1 for an unused slot."""
        if not self._quiet_ns:
            return
        n = len(partition)
        held = partition >= 0
        clock = self._partition_time[np.where(held, partition, 0)]
        due = np.where(held & (clock != NO_BAR), clock - self._quiet_ns, NO_BAR)
        np.maximum(self.watermark[:n], due, out=self.watermark[:n])

    def expiring(self, partition: Ints) -> Ints:
        """Slots idle (no tick of their own) for longer than the idle limit of their
        partition's event time; their forming bars close now, and they are forgotten
        after this batch. `partition` as for :meth:`close_quiet`."""
        if not self._idle_ns:
            return np.empty(0, np.intp)
        held = partition >= 0
        clock = self._partition_time[np.where(held, partition, 0)]
        newest = self.newest[: len(partition)]
        idle = held & (newest != NO_BAR) & (clock != NO_BAR) & (newest < clock - self._idle_ns)
        slots = np.flatnonzero(idle)
        self.watermark[slots] = FAR_FUTURE
        return slots

    def raise_to(self, slots: Ints, watermark_ns: int) -> None:
        self.watermark[slots] = np.maximum(self.watermark[slots], watermark_ns)

    def closed_before(self, watermark: I64) -> I64:
        """Per watermark: every finest bar starting before this has closed."""
        lag = self._lateness_ns + self._fine_ns - 1
        return np.where(watermark == NO_BAR, NO_BAR, watermark - lag)


def running_max(values: I64, rank: Ints) -> I64:
    """The running maximum within runs (`rank`: each element's place in its run),
    by pointer doubling: log2 of the longest run vectorised steps."""
    out = values.copy()
    step = 1
    while len(rank) and step <= int(rank.max()):
        at = np.flatnonzero(rank >= step)
        out[at] = np.maximum(out[at], out[at - step])
        step *= 2
    return out
