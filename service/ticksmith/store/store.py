"""Per-symbol state, owned by partition, updated a whole batch at a time.

Each symbol has a slot; per-slot state lives in arrays (watermark, replay floor,
coarser forming bars), so a batch is folded in for all its symbols at once.
Recent ticks live in one tick window (a row per slot, see tick_window.py);
closed bars are per-symbol rings that grow only as a symbol's bars close.

Lateness: a tick is late when its finest bar had already closed when it
arrived, i.e. the bar's end plus ``lateness_ns`` is at or behind the newest
event time seen before it for its symbol (the watermark). This depends only on
the order of records in the partition, never on how they were batched, so a
replay closes the same bars with the same ticks.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from ticksmith.store.bars import BAR_DTYPE, NO_BAR, Bars, merge_into, rollup, segment, vwap
from ticksmith.store.groups import Groups
from ticksmith.store.pending import Pending, Ticks
from ticksmith.store.ring import Ring
from ticksmith.store.rollup import Rollup
from ticksmith.store.tick_window import TickWindow
from ticksmith.ticks import TickBatch

Ints = npt.NDArray[np.intp]
I64 = npt.NDArray[np.int64]
Closed = dict[int, dict[str, Bars]]  # interval_ms -> symbol -> closed bars, oldest first


@dataclass(slots=True)
class SymbolState:
    """One symbol's closed bars per interval (its recent ticks are the store's
    tick window row `slot`)."""

    symbol: str
    slot: int
    partition: int
    bars: dict[int, Ring]
    version: int = 0  # bumps whenever closed bars change; derived values key on it

    @property
    def nbytes(self) -> int:
        return sum(r.nbytes for r in self.bars.values())


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What a batch (or a wall-clock advance) did."""

    late: TickBatch  # ticks refused: their bar had closed
    closed: Closed = field(default_factory=dict)
    partial_dropped: int = 0

    @property
    def bars_closed(self) -> int:
        return sum(len(rows) for by_symbol in self.closed.values() for rows in by_symbol.values())


class Store:
    """All symbols of the partitions this process owns."""

    def __init__(
        self,
        intervals_ms: Sequence[int],
        history_bars: int,
        ticks_per_symbol: int,
        lateness_ms: int = 0,
    ) -> None:
        self.intervals_ms = tuple(sorted(intervals_ms))
        self._fine_ns = self.intervals_ms[0] * 1_000_000
        self._lateness_ns = lateness_ms * 1_000_000
        self._history_bars = history_bars
        self._ticks = TickWindow(ticks_per_symbol)
        self._index: pd.Index | None = None  # see _name_index
        self._index_slots: Ints = np.empty(0, dtype=np.intp)
        self._symbols: dict[str, SymbolState] = {}
        self._by_slot: list[SymbolState | None] = []
        self._free: list[int] = []
        self._watermark: I64 = np.full(64, NO_BAR, dtype=np.int64)
        self._floor: I64 = np.full(64, NO_BAR, dtype=np.int64)
        self._pending = Pending()
        self._rollups = {ms: Rollup(ms * 1_000_000) for ms in self.intervals_ms[1:]}
        # partition -> event time its replay began; bars starting earlier may be partial
        self.replay_floor_ns: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._symbols)

    def get(self, symbol: str) -> SymbolState | None:
        return self._symbols.get(symbol)

    def symbols(self) -> list[str]:
        return sorted(self._symbols)

    @property
    def nbytes(self) -> int:
        rings = sum(state.nbytes for state in self._symbols.values())
        forming = sum(r.forming.nbytes for r in self._rollups.values())
        fixed = self._ticks.nbytes + self._pending.nbytes + 2 * self._watermark.nbytes
        return rings + forming + fixed

    def apply(self, batch: TickBatch) -> ApplyResult:
        """Fold a batch in; return the bars it closed and the ticks that were late."""
        if len(batch) == 0:
            return ApplyResult(late=batch)
        slot = self._slots(batch)
        groups = Groups.of(slot, len(self._by_slot))
        late = self._late(groups, slot, batch.ts_ns)
        if late.any():
            batch_ok = batch.take(~late)
            slot = slot[~late]
            groups = Groups.of(slot, len(self._by_slot))
        else:
            batch_ok = batch
        ts, price, size = batch_ok.ts_ns, batch_ok.price, batch_ok.size
        self._ticks.append(
            groups, {"ts_ns": ts, "price": price, "size": size, "side": batch_ok.side}
        )
        np.maximum.at(self._watermark, slot, ts)
        # ticks whose bar this very batch closed skip the reorder buffer
        closed_before = self._closed_before(self._watermark)
        now = (ts - ts % self._fine_ns) < closed_before[slot]
        later = ~now
        self._pending.add(slot[later], ts[later], price[later], size[later])
        arriving = (slot[now], ts[now], price[now], size[now])
        closed, partial = self._release(closed_before, arriving)
        return ApplyResult(late=batch.take(late), closed=closed, partial_dropped=partial)

    def _slots(self, batch: TickBatch) -> Ints:
        """Each tick's slot; a symbol seen for the first time gets one, owned by the
        partition of its first tick (a symbol lives in one partition)."""
        present = np.flatnonzero(np.bincount(batch.code, minlength=len(batch.names)))
        names = batch.names[present]
        found = self._name_index().get_indexer(names)
        if (found < 0).any():
            first = np.full(len(batch.names), len(batch), dtype=np.intp)
            np.minimum.at(first, batch.code, np.arange(len(batch), dtype=np.intp))
            for code in present[found < 0].tolist():
                self._new_state(str(batch.names[code]), int(batch.partition[first[code]]))
            found = self._name_index().get_indexer(names)
        slot_of = np.zeros(len(batch.names), dtype=np.intp)
        slot_of[present] = self._index_slots[found]
        return slot_of[batch.code]

    def _name_index(self) -> pd.Index:
        """Symbol names for vectorised lookup (rebuilt after symbols come or go)."""
        if self._index is None:
            self._index = pd.Index(list(self._symbols), dtype=object)
            self._index_slots = np.fromiter(
                (s.slot for s in self._symbols.values()), np.intp, len(self._symbols)
            )
        return self._index

    def advance(self, watermark_ns: int) -> ApplyResult:
        """Move every symbol's watermark to at least `watermark_ns` (wall clock minus a
        deadline), closing the bars of quiet symbols."""
        np.maximum(self._watermark, watermark_ns, out=self._watermark)
        closed, partial = self._release(self._closed_before(self._watermark))
        return ApplyResult(late=TickBatch.empty(), closed=closed, partial_dropped=partial)

    def drop_partitions(self, partitions: Iterable[int]) -> list[str]:
        """Forget every symbol of the given partitions; return their names."""
        gone = set(partitions)
        dropped = [s for s in self._symbols.values() if s.partition in gone]
        slots = np.array([s.slot for s in dropped], dtype=np.intp)
        self._pending.drop_slots(slots)
        self._ticks.clear(slots)
        self._watermark[slots] = NO_BAR
        self._floor[slots] = NO_BAR
        for rollup_ in self._rollups.values():
            rollup_.clear(slots)
        self._index = None
        for state in dropped:
            del self._symbols[state.symbol]
            self._by_slot[state.slot] = None
            self._free.append(state.slot)
        return [s.symbol for s in dropped]

    def bars_frame(self, symbol: str, interval_ms: int | None = None) -> pd.DataFrame:
        """Closed bars of a symbol, oldest first, as a DataFrame indexed by bar start."""
        ms = interval_ms or self.intervals_ms[0]
        return bars_to_frame(self._symbols[symbol].bars[ms].to_array())

    def tick_count(self, symbol: str) -> int:
        """Ticks the symbol ever had in this store (its tick window's version)."""
        return int(self._ticks.total[self._symbols[symbol].slot])

    def ticks_frame(self, symbol: str) -> pd.DataFrame:
        rows = self._ticks.rows_of(self._symbols[symbol].slot)
        frame = pd.DataFrame({n: rows[n] for n in ("price", "size", "side")})
        frame.index = pd.to_datetime(rows["ts_ns"], unit="ns", utc=True).rename("ts")
        return frame

    def forming(self, symbol: str, interval_ms: int | None = None) -> Bars:
        """Provisional bars in progress (newest last), from ticks not yet in a closed
        bar; reading them changes nothing."""
        ms = interval_ms or self.intervals_ms[0]
        slot = self._symbols[symbol].slot
        ts, price, size = self._pending.of_slot(slot)
        code = np.zeros(len(ts), dtype=np.intp)
        fine = segment(code, ts - ts % self._fine_ns, price, size).bars
        if ms == self.intervals_ms[0]:
            return fine
        interval_ns = ms * 1_000_000
        coarse = rollup(
            np.zeros(len(fine), np.intp), fine["start_ns"] - fine["start_ns"] % interval_ns, fine
        )
        held = self._rollups[ms].forming[slot : slot + 1]
        return _prepend_forming(held, coarse.bars)

    def _new_state(self, symbol: str, partition: int) -> SymbolState:
        slot = self._new_slot()
        state = SymbolState(
            symbol=symbol,
            slot=slot,
            partition=partition,
            bars={ms: Ring(BAR_DTYPE, self._history_bars) for ms in self.intervals_ms},
        )
        self._floor[slot] = self.replay_floor_ns.get(partition, NO_BAR)
        self._symbols[symbol] = state
        self._by_slot[slot] = state
        self._index = None
        return state

    def _new_slot(self) -> int:
        if self._free:
            return self._free.pop()
        slot = len(self._by_slot)
        self._by_slot.append(None)
        if slot == len(self._watermark):
            grow = np.full(slot, NO_BAR, dtype=np.int64)
            self._watermark = np.concatenate((self._watermark, grow))
            self._floor = np.concatenate((self._floor, grow))
        for rollup_ in self._rollups.values():
            rollup_.ensure(slot + 1)
        self._ticks.ensure_rows(slot + 1)
        return slot

    def _late(self, groups: Groups, slot: Ints, ts: I64) -> npt.NDArray[np.bool_]:
        """Ticks whose finest bar had closed before they arrived (see the module doc):
        compared with the newest event time before them, in this batch or before."""
        t = ts[groups.order]
        first = groups.first_in_run()
        in_order = bool((t[1:] >= t[:-1])[~first[1:]].all())
        if in_order:  # the usual case: the newest before a tick is the one just before it
            before = np.r_[NO_BAR, t[:-1]]
        else:
            running = pd.Series(t).groupby(np.repeat(groups.slots, groups.counts)).cummax()
            before = np.r_[NO_BAR, running.to_numpy()[:-1]]
        before[first] = NO_BAR
        before = np.maximum(before, self._watermark[slot[groups.order]])
        late = np.empty(len(ts), dtype=bool)
        late[groups.order] = (t - t % self._fine_ns) < self._closed_before(before)
        return late

    def _closed_before(self, watermark: I64) -> I64:
        """Per watermark: every finest bar starting before this has closed."""
        lag = self._lateness_ns + self._fine_ns - 1
        return np.where(watermark == NO_BAR, NO_BAR, watermark - lag)

    def _release(self, closed_before: I64, arriving: Ticks | None = None) -> tuple[Closed, int]:
        """Build the bars that the watermarks closed (`closed_before` per slot), for
        every interval, from the reorder buffer and the `arriving` ticks whose bars
        are closed already."""
        slot, ts, price, size = self._pending.release(self._fine_ns, closed_before, arriving)
        fine = segment(slot, ts - ts % self._fine_ns, price, size)
        by_interval = {self.intervals_ms[0]: (fine.bars, fine.code)}
        for ms, rollup_ in self._rollups.items():
            rows, slots = rollup_.fold(fine.code, fine.bars)
            due_rows, due_slots = rollup_.close_due(self._watermark, self._lateness_ns)
            rows, slots = np.concatenate((rows, due_rows)), np.concatenate((slots, due_slots))
            order = np.argsort(slots, kind="stable")
            by_interval[ms] = (rows[order], slots[order])
        closed: Closed = {}
        partial = 0
        for ms, (rows, slots) in by_interval.items():
            closed[ms], dropped = self._keep(ms, rows, slots)
            partial += dropped
        return closed, partial

    def _keep(self, ms: int, rows: Bars, slots: Ints) -> tuple[dict[str, Bars], int]:
        """Append complete bars (grouped by slot) to each symbol's ring; drop partial ones."""
        complete = rows["start_ns"] >= self._floor[slots]
        rows, slots = rows[complete], slots[complete]
        out: dict[str, Bars] = {}
        edges: list[int] = []
        if len(slots):
            edges = np.flatnonzero(np.r_[True, slots[1:] != slots[:-1], True]).tolist()
        for lo, hi in itertools.pairwise(edges):
            state = self._by_slot[int(slots[lo])]
            assert state is not None
            state.bars[ms].extend(rows[lo:hi])
            state.version += 1
            out[state.symbol] = rows[lo:hi]
        return out, int((~complete).sum())


def _prepend_forming(held: Bars, later: Bars) -> Bars:
    """The coarser forming bar merged with the provisional bars after it."""
    if held["start_ns"][0] == NO_BAR:
        return later
    if len(later) and later["start_ns"][0] == held["start_ns"][0]:
        later = later.copy()
        merge_into(later, np.array([0]), held)
        return later
    return np.concatenate((held, later))


def bars_to_frame(rows: Bars) -> pd.DataFrame:
    """Closed bars as a DataFrame: OHLCV, VWAP and trade count, indexed by bar start."""
    frame = pd.DataFrame({n: rows[n] for n in ("open", "high", "low", "close", "volume")})
    frame["vwap"] = vwap(rows)
    frame["count"] = rows["count"]
    frame.index = pd.to_datetime(rows["start_ns"], unit="ns", utc=True).rename("start")
    return frame
