"""Per-symbol state, owned by partition, updated a whole batch at a time.

Forming bars of every symbol live in one structured array, a row per symbol
slot, so a batch's bars are rolled forward for all its symbols at once. Closed
bars and recent ticks are per-symbol rings that grow only as a symbol trades.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from ticksmith.store.bars import BAR_DTYPE, Bars, Segments, segment, vwap
from ticksmith.store.ring import Ring
from ticksmith.ticks import TickBatch

TICK_DTYPE = np.dtype(
    [("ts_ns", np.int64), ("price", np.float64), ("size", np.float64), ("side", np.int8)]
)
NO_BAR = np.iinfo(np.int64).min  # start_ns of a slot with no forming bar
Ints = npt.NDArray[np.intp]


@dataclass(slots=True)
class SymbolState:
    """One symbol's authoritative state: recent ticks and closed bars. Its forming
    bar is row `slot` of the store's forming array."""

    slot: int
    partition: int
    ticks: Ring
    bars: Ring
    version: int = 0  # bumps whenever closed bars change; derived values key on it
    # Bars starting before this may lack ticks from before a replay began: never kept.
    partial_before_ns: int = NO_BAR

    @property
    def nbytes(self) -> int:
        return self.ticks.nbytes + self.bars.nbytes


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What one batch did: the bars it closed, by symbol, and which ticks were late."""

    late: npt.NDArray[np.bool_]
    closed: dict[str, Bars] = field(default_factory=dict)
    partial_dropped: int = 0

    @property
    def bars_closed(self) -> int:
        return sum(len(rows) for rows in self.closed.values())


class Store:
    """All symbols of the partitions this process owns."""

    def __init__(self, interval_ns: int, history_bars: int, ticks_per_symbol: int) -> None:
        self.interval_ns = interval_ns
        self._history_bars = history_bars
        self._ticks_per_symbol = ticks_per_symbol
        self._symbols: dict[str, SymbolState] = {}
        self._forming = _no_bars(64)
        self._free: list[int] = []
        # partition -> event time its replay began; symbols first seen then may be partial
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
        return rings + int(self._forming.nbytes)

    def forming(self, symbol: str) -> Bars | None:
        """The symbol's bar in progress (one row), or None."""
        row = self._forming[self._symbols[symbol].slot : self._symbols[symbol].slot + 1]
        return None if row["start_ns"][0] == NO_BAR else row.copy()

    def apply(self, batch: TickBatch) -> ApplyResult:
        """Fold a batch into the state; ticks older than a symbol's forming bar are late."""
        if len(batch) == 0:
            return ApplyResult(np.zeros(0, dtype=bool))
        codes, uniques = pd.factorize(batch.symbol)
        partitions = _first_partition(batch, codes)
        states = [self._state(str(s), int(p)) for s, p in zip(uniques, partitions, strict=True)]
        slots = np.fromiter((s.slot for s in states), dtype=np.intp, count=len(states))
        order = np.argsort(codes, kind="stable")
        code = codes[order]
        start = batch.ts_ns[order] - batch.ts_ns[order] % self.interval_ns
        late_sorted = _late(code, start, self._forming["start_ns"][slots])
        keep, code, start = order[~late_sorted], code[~late_sorted], start[~late_sorted]
        self._append_ticks(states, np.searchsorted(code, np.arange(len(states) + 1)), batch, keep)
        rows, row_code = self._roll(
            slots, segment(code, start, batch.price[keep], batch.size[keep])
        )
        closed, partial = self._keep_closed(states, uniques, rows, row_code)
        late = np.empty(len(batch), dtype=bool)
        late[order] = late_sorted
        return ApplyResult(late=late, closed=closed, partial_dropped=partial)

    def drop_partitions(self, partitions: Iterable[int]) -> list[str]:
        """Forget every symbol of the given partitions; return their names."""
        gone = set(partitions)
        dropped = [s for s, st in self._symbols.items() if st.partition in gone]
        for symbol in dropped:
            slot = self._symbols.pop(symbol).slot
            self._forming["start_ns"][slot] = NO_BAR
            self._free.append(slot)
        return dropped

    def bars_frame(self, symbol: str) -> pd.DataFrame:
        """Closed bars of a symbol, oldest first, as a DataFrame indexed by bar start."""
        return bars_to_frame(self._symbols[symbol].bars.to_array())

    def ticks_frame(self, symbol: str) -> pd.DataFrame:
        rows = self._symbols[symbol].ticks.to_array()
        frame = pd.DataFrame({n: rows[n] for n in ("price", "size", "side")})
        frame.index = pd.to_datetime(rows["ts_ns"], unit="ns", utc=True).rename("ts")
        return frame

    def _state(self, symbol: str, partition: int) -> SymbolState:
        state = self._symbols.get(symbol)
        if state is None:
            state = SymbolState(
                slot=self._new_slot(),
                partition=partition,
                ticks=Ring(TICK_DTYPE, self._ticks_per_symbol),
                bars=Ring(BAR_DTYPE, self._history_bars),
                partial_before_ns=self.replay_floor_ns.get(partition, NO_BAR),
            )
            self._symbols[symbol] = state
        return state

    def _new_slot(self) -> int:
        if self._free:
            return self._free.pop()
        used = len(self._symbols)
        if used == len(self._forming):
            self._forming = np.concatenate((self._forming, _no_bars(used)))
        return used

    def _append_ticks(
        self, states: list[SymbolState], bounds: Ints, batch: TickBatch, keep: Ints
    ) -> None:
        rows = np.empty(len(keep), dtype=TICK_DTYPE)
        for name in TICK_DTYPE.names or ():
            rows[name] = getattr(batch, name)[keep]
        for i, state in enumerate(states):
            if bounds[i] < bounds[i + 1]:
                state.ticks.extend(rows[bounds[i] : bounds[i + 1]])

    def _roll(self, slots: Ints, segs: Segments) -> tuple[Bars, Ints]:
        """Merge each symbol's first partial bar into its forming bar, make its last
        the new forming bar, and return every bar that closed with its symbol code,
        grouped by code in time order."""
        bars = segs.bars.copy()
        first = np.searchsorted(segs.code, np.arange(len(slots)))
        last = np.searchsorted(segs.code, np.arange(len(slots)), side="right") - 1
        sym = np.flatnonzero(last >= first)  # symbols with at least one on-time tick
        f, slot = first[sym], slots[sym]
        prev = self._forming[slot]
        same = prev["start_ns"] == bars["start_ns"][f]
        _merge_into(bars, f[same], prev[same])
        closes = (prev["start_ns"] != NO_BAR) & ~same
        is_last = np.zeros(len(bars), dtype=bool)
        is_last[last[sym]] = True
        rows = np.concatenate((prev[closes], bars[~is_last]))
        code = np.concatenate((sym[closes], segs.code[~is_last]))
        self._forming[slot] = bars[last[sym]]
        order = np.argsort(code, kind="stable")  # a closing forming bar precedes its successors
        return rows[order], code[order]

    def _keep_closed(
        self, states: list[SymbolState], names: npt.NDArray[np.object_], rows: Bars, code: Ints
    ) -> tuple[dict[str, Bars], int]:
        """Append complete closed bars to each symbol's history; drop partial ones."""
        floor = np.fromiter((s.partial_before_ns for s in states), np.int64, len(states))
        complete = rows["start_ns"] >= floor[code]
        rows, code = rows[complete], code[complete]
        bounds = np.searchsorted(code, np.arange(len(states) + 1))
        closed: dict[str, Bars] = {}
        for i in np.flatnonzero(bounds[1:] > bounds[:-1]):
            part = rows[bounds[i] : bounds[i + 1]]
            states[i].bars.extend(part)
            states[i].version += 1
            closed[str(names[i])] = part
        return closed, int((~complete).sum())


def _merge_into(bars: Bars, at: Ints, earlier: Bars) -> None:
    """bars[at] ← the bar made of `earlier` followed by bars[at] (same interval)."""
    bars["open"][at] = earlier["open"]
    bars["high"][at] = np.maximum(earlier["high"], bars["high"][at])
    bars["low"][at] = np.minimum(earlier["low"], bars["low"][at])
    bars["volume"][at] = earlier["volume"] + bars["volume"][at]
    bars["notional"][at] = earlier["notional"] + bars["notional"][at]
    bars["count"][at] = earlier["count"] + bars["count"][at]


def _no_bars(n: int) -> Bars:
    rows = np.zeros(n, dtype=BAR_DTYPE)
    rows["start_ns"] = NO_BAR
    return rows


def _late(
    code: Ints, start: npt.NDArray[np.int64], forming: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Ticks whose bar starts before a bar already seen for their symbol: before the
    forming bar, or before an earlier tick of the same batch."""
    seen = pd.Series(start).groupby(code).cummax().to_numpy()
    return (start < seen) | (start < forming[code])


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
