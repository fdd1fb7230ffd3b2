"""Per-symbol state, owned by partition, updated a whole batch at a time.

Each symbol has a slot; per-slot state lives in arrays (watermark, replay floor,
coarser forming bars), so a batch is folded in for all its symbols at once.
Recent ticks and closed bars are per-symbol rings that grow only as a symbol
trades.

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
from ticksmith.store.pending import Pending
from ticksmith.store.ring import Ring
from ticksmith.store.rollup import Rollup
from ticksmith.ticks import TickBatch

TICK_DTYPE = np.dtype(
    [("ts_ns", np.int64), ("price", np.float64), ("size", np.float64), ("side", np.int8)]
)
Ints = npt.NDArray[np.intp]
I64 = npt.NDArray[np.int64]
Closed = dict[int, dict[str, Bars]]  # interval_ms -> symbol -> closed bars, oldest first


@dataclass(slots=True)
class SymbolState:
    """One symbol's recent ticks and closed bars per interval."""

    symbol: str
    slot: int
    partition: int
    ticks: Ring
    bars: dict[int, Ring]
    version: int = 0  # bumps whenever closed bars change; derived values key on it

    @property
    def nbytes(self) -> int:
        return self.ticks.nbytes + sum(r.nbytes for r in self.bars.values())


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
        self._ticks_per_symbol = ticks_per_symbol
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
        return rings + forming + self._pending.nbytes + 2 * self._watermark.nbytes

    def apply(self, batch: TickBatch) -> ApplyResult:
        """Fold a batch in; return the bars it closed and the ticks that were late."""
        if len(batch) == 0:
            return ApplyResult(late=batch)
        codes, uniques = pd.factorize(batch.symbol)
        partitions = _first_partition(batch, codes)
        states = [self._state(str(s), int(p)) for s, p in zip(uniques, partitions, strict=True)]
        slots = np.fromiter((s.slot for s in states), dtype=np.intp, count=len(states))
        late = self._late(codes, slots, batch.ts_ns)
        ok = np.flatnonzero(~late)
        self._append_ticks(states, codes[ok], batch, ok)
        self._pending.add(slots[codes[ok]], batch.ts_ns[ok], batch.price[ok], batch.size[ok])
        newest = pd.Series(batch.ts_ns[ok]).groupby(codes[ok]).max()
        at = slots[newest.index.to_numpy()]
        self._watermark[at] = np.maximum(self._watermark[at], newest.to_numpy())
        closed, partial = self._release()
        return ApplyResult(late=batch.take(late), closed=closed, partial_dropped=partial)

    def advance(self, watermark_ns: int) -> ApplyResult:
        """Move every symbol's watermark to at least `watermark_ns` (wall clock minus a
        deadline), closing the bars of quiet symbols."""
        np.maximum(self._watermark, watermark_ns, out=self._watermark)
        closed, partial = self._release()
        return ApplyResult(late=TickBatch.empty(), closed=closed, partial_dropped=partial)

    def drop_partitions(self, partitions: Iterable[int]) -> list[str]:
        """Forget every symbol of the given partitions; return their names."""
        gone = set(partitions)
        dropped = [s for s in self._symbols.values() if s.partition in gone]
        slots = np.array([s.slot for s in dropped], dtype=np.intp)
        self._pending.drop_slots(slots)
        self._watermark[slots] = NO_BAR
        self._floor[slots] = NO_BAR
        for rollup_ in self._rollups.values():
            rollup_.clear(slots)
        for state in dropped:
            del self._symbols[state.symbol]
            self._by_slot[state.slot] = None
            self._free.append(state.slot)
        return [s.symbol for s in dropped]

    def bars_frame(self, symbol: str, interval_ms: int | None = None) -> pd.DataFrame:
        """Closed bars of a symbol, oldest first, as a DataFrame indexed by bar start."""
        ms = interval_ms or self.intervals_ms[0]
        return bars_to_frame(self._symbols[symbol].bars[ms].to_array())

    def ticks_frame(self, symbol: str) -> pd.DataFrame:
        rows = self._symbols[symbol].ticks.to_array()
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

    def _state(self, symbol: str, partition: int) -> SymbolState:
        state = self._symbols.get(symbol)
        if state is None:
            slot = self._new_slot()
            state = SymbolState(
                symbol=symbol,
                slot=slot,
                partition=partition,
                ticks=Ring(TICK_DTYPE, self._ticks_per_symbol),
                bars={ms: Ring(BAR_DTYPE, self._history_bars) for ms in self.intervals_ms},
            )
            self._floor[slot] = self.replay_floor_ns.get(partition, NO_BAR)
            self._symbols[symbol] = state
            self._by_slot[slot] = state
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
        return slot

    def _late(self, codes: Ints, slots: Ints, ts: I64) -> npt.NDArray[np.bool_]:
        """Ticks whose finest bar had closed before they arrived (see the module doc)."""
        order = np.argsort(codes, kind="stable")
        code, t = codes[order], ts[order]
        running = pd.Series(t).groupby(code).cummax().to_numpy()
        before = np.where(np.r_[False, code[1:] == code[:-1]], np.r_[NO_BAR, running[:-1]], NO_BAR)
        before = np.maximum(before, self._watermark[slots[code]])
        late = np.empty(len(ts), dtype=bool)
        late[order] = (t - t % self._fine_ns) < self._closed_before(before)
        return late

    def _closed_before(self, watermark: I64) -> I64:
        """Per watermark: every finest bar starting before this has closed."""
        lag = self._lateness_ns + self._fine_ns - 1
        return np.where(watermark == NO_BAR, NO_BAR, watermark - lag)

    def _append_ticks(
        self, states: list[SymbolState], code: Ints, batch: TickBatch, at: Ints
    ) -> None:
        order = np.argsort(code, kind="stable")
        rows = np.empty(len(at), dtype=TICK_DTYPE)
        for name in TICK_DTYPE.names or ():
            rows[name] = getattr(batch, name)[at[order]]
        bounds = np.searchsorted(code[order], np.arange(len(states) + 1))
        for i in np.flatnonzero(bounds[1:] > bounds[:-1]):
            states[i].ticks.extend(rows[bounds[i] : bounds[i + 1]])

    def _release(self) -> tuple[Closed, int]:
        """Build the bars that the watermarks closed, for every interval."""
        start = self._pending.ts - self._pending.ts % self._fine_ns
        slot, ts, price, size = self._pending.release(start, self._closed_before(self._watermark))
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


def _first_partition(batch: TickBatch, codes: Ints) -> npt.NDArray[np.int32]:
    """The partition of each symbol's first tick (a symbol lives in one partition)."""
    _, first = np.unique(codes, return_index=True)
    return batch.partition[first]


def bars_to_frame(rows: Bars) -> pd.DataFrame:
    """Closed bars as a DataFrame: OHLCV, VWAP and trade count, indexed by bar start."""
    frame = pd.DataFrame({n: rows[n] for n in ("open", "high", "low", "close", "volume")})
    frame["vwap"] = vwap(rows)
    frame["count"] = rows["count"]
    frame.index = pd.to_datetime(rows["start_ns"], unit="ns", utc=True).rename("start")
    return frame
