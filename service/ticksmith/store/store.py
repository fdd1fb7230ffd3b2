"""Per-symbol state, owned by partition, updated a whole batch at a time.

Each symbol has a slot; per-slot state lives in arrays (watermarks and replay
floor in watermarks.py, coarser forming bars in rollup.py), so a batch is folded
in for all its symbols at once. Recent ticks live in one tick window (a row per
slot, see tick_window.py); closed bars are per-symbol histories (history.py)
that grow only as a symbol's bars close. When a bar closes and which ticks are
late is decided in watermarks.py; bars in progress are read through forming.py.
Activity bars (tick, volume, dollar: activity.py) are fed each step's accepted
ticks in arrival order and kept beside the time bars, under their labels.

Bounds: at most ``max_symbols`` symbols (a new one beyond that is refused: its ticks come
back in ``ApplyResult.refused``), and a symbol with no tick of its own for ``symbol_idle_ms``
of its partition's event time closes its forming bars and is forgotten (``ApplyResult.expired``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from functools import partial

import numpy as np
import numpy.typing as npt

from ticksmith.bar import ActivitySet, BarKey
from ticksmith.store.activity import ActivitySets
from ticksmith.store.bars import NO_BAR, Bars
from ticksmith.store.calendar import Calendar
from ticksmith.store.forming import coarse_forming, fine_forming
from ticksmith.store.groups import Groups
from ticksmith.store.pending import Pending, Ticks
from ticksmith.store.result import ApplyResult, Closed
from ticksmith.store.rollup import Rollup
from ticksmith.store.symbols import NO_SLOT, SymbolState, SymbolTable
from ticksmith.store.tick_window import TickWindow, Wider
from ticksmith.store.watermarks import Watermarks
from ticksmith.ticks import TickBatch

Ints = npt.NDArray[np.intp]
I64 = npt.NDArray[np.int64]


class Store:
    """All symbols of the partitions this process owns."""

    def __init__(
        self,
        intervals_ms: Sequence[int],
        history_bars: int,
        ticks_per_symbol: int,
        lateness_ms: int = 0,
        *,
        quiet_close_ms: int = 0,
        max_symbols: int = 1_000_000,
        symbol_idle_ms: int = 0,
        activity: Sequence[ActivitySet] = (),
        activity_anchor_ms: int = 86_400_000,
        calendar: Calendar | None = None,
    ) -> None:
        """`quiet_close_ms` 0: a bar closes only by its own symbol's ticks;
        `symbol_idle_ms` 0: symbols never expire (module doc); `calendar`: where coarser
        time bars begin and end (store/calendar.py), UTC from the epoch unless given."""
        self.intervals_ms = tuple(sorted(intervals_ms))
        self._fine_ns = self.intervals_ms[0] * 1_000_000
        self._lateness_ns = lateness_ms * 1_000_000
        self._quiet = quiet_close_ms > 0
        self._history_bars = history_bars
        self._table = SymbolTable(max_symbols)
        self._ticks = TickWindow(ticks_per_symbol)
        self._clock = Watermarks(
            self._fine_ns, self._lateness_ns, quiet_close_ms * 1_000_000, symbol_idle_ms * 1_000_000
        )
        self._pending = Pending()
        self.calendar = calendar or Calendar()
        self._rollups = {
            ms: Rollup(self.calendar.buckets(ms * 1_000_000)) for ms in self.intervals_ms[1:]
        }
        self._activity = ActivitySets(activity, activity_anchor_ms)
        self.bar_keys: tuple[BarKey, ...] = (*self.intervals_ms, *self._activity.labels)
        # partition -> event time its consumption began, when it began after the log's
        # beginning; bars starting earlier may be partial and are never kept
        self.replay_floor_ns: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._table)

    @property
    def max_symbols(self) -> int:
        return self._table.max_symbols

    def get(self, symbol: str) -> SymbolState | None:
        return self._table.get(symbol)

    def symbols(self) -> list[str]:
        return sorted(s.symbol for s in self._table)

    @property
    def nbytes(self) -> int:
        histories = sum(state.nbytes for state in self._table)
        forming = sum(r.forming.nbytes for r in self._rollups.values())
        fixed = self._ticks.nbytes + self._pending.nbytes + self._clock.nbytes
        return histories + forming + fixed + self._activity.nbytes

    def apply(self, batch: TickBatch) -> ApplyResult:
        """Fold a batch in; return the bars it closed and the ticks that were late."""
        if len(batch) == 0:
            return ApplyResult(late=batch, refused=batch)
        partition_before = self._clock.partition_clock(batch)
        slot = self._slots(batch)
        held = slot >= 0
        if not held.all():
            batch, refused, slot = batch.take(held), batch.take(~held), slot[held]
            if self._quiet:
                partition_before = partition_before[held]
        else:
            refused = batch.take(held[:0])
        groups = Groups.of(slot, self._table.size)
        late = self._clock.late(groups, slot, batch.ts_ns, partition_before)
        if late.any():
            batch_ok = batch.take(~late)
            slot = slot[~late]
            groups = Groups.of(slot, self._table.size)
        else:
            batch_ok = batch
        ts, price, size = batch_ok.ts_ns, batch_ok.price, batch_ok.size
        self._ticks.append(
            groups, {"ts_ns": ts, "price": price, "size": size, "side": batch_ok.side}
        )
        self._clock.observe(slot, ts)
        in_use = self._table.partition[: self._table.size]
        self._clock.close_quiet(in_use)
        expired = self._clock.expiring(in_use)
        # ticks whose bar this very batch closed skip the reorder buffer; the others
        # join it after the release, which so finds a slot's ticks all of one bar
        # (its running bar, store/running.py)
        closed_before = self._clock.closed_before(self._clock.watermark)
        now = (ts - ts % self._fine_ns) < closed_before[slot]
        arriving = (slot[now], ts[now], price[now], size[now])
        closed, evicted, partial = self._release(closed_before, arriving)
        later = ~now
        self._pending.add(slot[later], ts[later], price[later], size[later], self._fine_ns)
        for label, (rows, slots) in self._activity.feed(slot, ts, price, size, expired).items():
            anchor = rows["start_ns"] - rows["start_ns"] % self._activity.anchor_ns
            closed[label], evicted[label], dropped = self._keep(label, rows, slots, anchor)
            partial += dropped
        return ApplyResult(
            late=batch.take(late),
            refused=refused,
            closed=closed,
            evicted=evicted,
            partial_dropped=partial,
            expired=self._forget(expired),
        )

    def window_room(self, batch: TickBatch) -> Callable[[], Wider | None] | None:
        """None when the tick window has room for `batch`'s ticks (width, a row per new
        symbol); else the copy that makes room (TickWindow.widened): off the loop, then adopt."""
        found, window = self._table.lookup(batch.names), self._ticks
        rows = self._table.size_with(int((found < 0).sum()))
        held = np.where(found >= 0, window.total[np.maximum(found, 0)], 0)
        needed = int((held + np.bincount(batch.code, minlength=len(found))).max())
        if (needed <= window.width or window.full_width) and rows <= window.rows:
            return None
        return partial(window.widened, needed, rows)

    @property
    def window(self) -> TickWindow:
        return self._ticks

    def _slots(self, batch: TickBatch) -> Ints:
        """Each tick's slot; a symbol seen for the first time gets one, owned by the
        partition of its first tick (a symbol lives in one partition), unless the
        store is full: then its ticks get NO_SLOT."""
        present = np.flatnonzero(np.bincount(batch.code, minlength=len(batch.names)))
        names = batch.names[present]
        found = self._table.lookup(names)
        if (found < 0).any():
            first = np.full(len(batch.names), len(batch), dtype=np.intp)
            np.minimum.at(first, batch.code, np.arange(len(batch), dtype=np.intp))
            for i in np.flatnonzero(found < 0).tolist():
                code = int(present[i])
                name, partition = str(batch.names[code]), int(batch.partition[first[code]])
                known = self._table.get(name)  # named twice (chunks joined): one slot
                found[i] = known.slot if known else self._new_state(name, partition)
        slot_of = np.full(len(batch.names), NO_SLOT, dtype=np.intp)
        slot_of[present] = found
        return slot_of[batch.code]

    def advance(self, watermark_ns: int, partitions: Iterable[int]) -> ApplyResult:
        """Move the watermark of every symbol of `partitions` to at least `watermark_ns`
        (wall clock minus a deadline), closing the bars of quiet symbols."""
        slots = self._table.slots_of(set(partitions))
        self._clock.raise_to(slots, watermark_ns)
        closed, evicted, partial = self._release(self._clock.closed_before(self._clock.watermark))
        empty = TickBatch.empty()
        return ApplyResult(empty, empty, closed, evicted, partial)

    def drop_partitions(self, partitions: Iterable[int]) -> list[str]:
        """Forget every symbol of the given partitions; return their names."""
        gone = set(partitions)
        for p in gone:
            self.replay_floor_ns.pop(p, None)
            self._clock.forget_partition(p)
        return self._forget(self._table.slots_of(gone))

    def _forget(self, slots: Ints) -> list[str]:
        if not len(slots):
            return []
        self._pending.drop_slots(slots, self._fine_ns)
        self._ticks.clear(slots)
        self._clock.forget(slots)
        for rollup_ in self._rollups.values():
            rollup_.clear(slots)
        self._activity.clear(slots)
        return self._table.remove(slots)

    def bars(self, symbol: str, interval_ms: BarKey | None = None) -> Bars:
        """Closed bars of a symbol, oldest first (a copy), at an interval or of an
        activity set (its label)."""
        ms = interval_ms or self.intervals_ms[0]
        return self._table[symbol].bars[ms].to_array()

    def tick_count(self, symbol: str) -> int:
        """Ticks the symbol ever had in this store (its tick window's version)."""
        return int(self._ticks.total[self._table[symbol].slot])

    def ticks(self, symbol: str) -> dict[str, npt.NDArray[np.generic]]:
        """The symbol's kept ticks, oldest first: ts_ns, price, size, side (copies)."""
        return self._ticks.rows_of(self._table[symbol].slot)

    def forming(self, symbol: str, interval_ms: int | None = None) -> Bars:
        """Provisional bars in progress (newest last), from ticks not yet in a closed
        bar; reading them changes nothing."""
        ms = interval_ms or self.intervals_ms[0]
        slot = self._table[symbol].slot
        ticks = self._pending.of_slot(slot)
        if ms == self.intervals_ms[0]:
            return fine_forming(ticks, self._fine_ns)
        held = self._rollups[ms].forming[slot : slot + 1]
        return coarse_forming(ticks, self._fine_ns, self._rollups[ms].buckets, held)

    def _new_state(self, symbol: str, partition: int) -> int:
        slot = self._table.add(symbol, partition, self.bar_keys, self._history_bars)
        if slot == NO_SLOT:
            return slot
        self._ensure(slot + 1)
        self._clock.start(slot, self.replay_floor_ns.get(partition, NO_BAR))
        return slot

    def _ensure(self, slots: int) -> None:
        self._clock.ensure(slots)
        for rollup_ in self._rollups.values():
            rollup_.ensure(slots)
        self._activity.ensure(slots)
        self._ticks.ensure_rows(slots)

    def _release(
        self, closed_before: I64, arriving: Ticks | None = None
    ) -> tuple[Closed, Closed, int]:
        """Build the bars that the watermarks closed (`closed_before` per slot), for
        every interval, from the reorder buffer and the `arriving` ticks whose bars
        are closed already; and the bars they pushed out of the history."""
        fine = self._pending.release_bars(self._fine_ns, closed_before, arriving)
        by_interval = {self.intervals_ms[0]: (fine.bars, fine.code)}
        for ms, rollup_ in self._rollups.items():
            rows, slots = rollup_.fold(fine.code, fine.bars)
            due_rows, due_slots = rollup_.close_due(self._clock.watermark, self._lateness_ns)
            rows, slots = np.concatenate((rows, due_rows)), np.concatenate((slots, due_slots))
            order = np.argsort(slots, kind="stable")
            by_interval[ms] = (rows[order], slots[order])
        closed: Closed = {}
        evicted: Closed = {}
        partial = 0
        for ms, (rows, slots) in by_interval.items():
            closed[ms], evicted[ms], dropped = self._keep(ms, rows, slots)
            partial += dropped
        return closed, evicted, partial

    def _keep(
        self, key: BarKey, rows: Bars, slots: Ints, begins: I64 | None = None
    ) -> tuple[dict[str, Bars], dict[str, Bars], int]:
        """Append complete bars (grouped by slot) to each symbol's history; drop partial
        ones: those whose interval (or anchor period: `begins`) began before the
        replay floor. Returns the bars kept and the bars they pushed out, per symbol."""
        begins = rows["start_ns"] if begins is None else begins
        complete = begins >= self._clock.floor[slots]
        rows, slots = rows[complete], slots[complete]
        kept, evicted = dict[str, Bars](), dict[str, Bars]()
        if not len(slots):
            return kept, evicted, int((~complete).sum())
        edges = np.flatnonzero(np.r_[True, slots[1:] != slots[:-1], True]).tolist()
        raw = np.ascontiguousarray(rows).view(np.uint8).reshape(len(rows), -1)
        at, firsts = self._table.at, slots[edges[:-1]].tolist()
        for (lo, hi), slot in zip(itertools.pairwise(edges), firsts, strict=True):
            state = at(slot)
            kept[state.symbol] = mine = rows[lo:hi]
            if len(out := state.bars[key].extend(mine, raw[lo:hi])):
                evicted[state.symbol] = out
        return kept, evicted, int((~complete).sum())
