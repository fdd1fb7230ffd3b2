"""Per-symbol state, owned by partition, updated a whole batch at a time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from ticksmith.store.bars import BAR_DTYPE, Bars, Segments, merge, segment, vwap
from ticksmith.store.ring import Ring
from ticksmith.ticks import TickBatch

TICK_DTYPE = np.dtype(
    [("ts_ns", np.int64), ("price", np.float64), ("size", np.float64), ("side", np.int8)]
)


@dataclass(slots=True)
class SymbolState:
    """One symbol's authoritative state: recent ticks, closed bars, the forming bar."""

    partition: int
    ticks: Ring
    bars: Ring
    forming: Bars | None = None  # one-row array, or None before the first tick
    version: int = 0  # bumps whenever closed bars change; derived values key on it

    @property
    def forming_start_ns(self) -> int:
        return -1 if self.forming is None else int(self.forming["start_ns"][0])

    @property
    def nbytes(self) -> int:
        return self.ticks.nbytes + self.bars.nbytes


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What one batch did: bars closed, and which ticks were too late to count."""

    bars_closed: int
    late: npt.NDArray[np.bool_]
    symbols_changed: list[str] = field(default_factory=list)


class Store:
    """All symbols of the partitions this process owns."""

    def __init__(self, interval_ns: int, history_bars: int, ticks_per_symbol: int) -> None:
        self.interval_ns = interval_ns
        self._history_bars = history_bars
        self._ticks_per_symbol = ticks_per_symbol
        self._symbols: dict[str, SymbolState] = {}

    def __len__(self) -> int:
        return len(self._symbols)

    def get(self, symbol: str) -> SymbolState | None:
        return self._symbols.get(symbol)

    def symbols(self) -> list[str]:
        return sorted(self._symbols)

    @property
    def nbytes(self) -> int:
        return sum(state.nbytes for state in self._symbols.values())

    def apply(self, batch: TickBatch) -> ApplyResult:
        """Fold a batch into the state; ticks older than a symbol's forming bar are late."""
        if len(batch) == 0:
            return ApplyResult(0, np.zeros(0, dtype=bool))
        codes, uniques = pd.factorize(batch.symbol)
        partitions = _first_partition(batch, codes, len(uniques))
        states = [self._state(str(s), int(p)) for s, p in zip(uniques, partitions, strict=True)]
        order = np.argsort(codes, kind="stable")
        code = codes[order]
        start = batch.ts_ns[order] - batch.ts_ns[order] % self.interval_ns
        forming = np.array([s.forming_start_ns for s in states], dtype=np.int64)
        late_sorted = _late(code, start, forming)
        on_time = ~late_sorted
        keep, code, start = order[on_time], code[on_time], start[on_time]
        bounds = np.searchsorted(code, np.arange(len(states) + 1))
        self._append_ticks(states, bounds, batch, keep)
        segs = segment(code, start, batch.price[keep], batch.size[keep])
        closed, changed = self._fold(states, uniques, segs)
        late = np.empty(len(batch), dtype=bool)
        late[order] = late_sorted
        return ApplyResult(bars_closed=closed, late=late, symbols_changed=changed)

    def drop_partitions(self, partitions: Iterable[int]) -> list[str]:
        """Forget every symbol of the given partitions; return their names."""
        gone = set(partitions)
        dropped = [s for s, st in self._symbols.items() if st.partition in gone]
        for symbol in dropped:
            del self._symbols[symbol]
        return dropped

    def bars_frame(self, symbol: str) -> pd.DataFrame:
        """Closed bars of a symbol, oldest first, as a DataFrame indexed by bar start."""
        state = self._symbols[symbol]
        return bars_to_frame(state.bars.to_array())

    def ticks_frame(self, symbol: str) -> pd.DataFrame:
        state = self._symbols[symbol]
        rows = state.ticks.to_array()
        frame = pd.DataFrame({n: rows[n] for n in ("price", "size", "side")})
        frame.index = pd.to_datetime(rows["ts_ns"], unit="ns", utc=True).rename("ts")
        return frame

    def _state(self, symbol: str, partition: int) -> SymbolState:
        state = self._symbols.get(symbol)
        if state is None:
            state = SymbolState(
                partition=partition,
                ticks=Ring(TICK_DTYPE, self._ticks_per_symbol),
                bars=Ring(BAR_DTYPE, self._history_bars),
            )
            self._symbols[symbol] = state
        return state

    def _append_ticks(
        self,
        states: list[SymbolState],
        bounds: npt.NDArray[np.intp],
        batch: TickBatch,
        keep: npt.NDArray[np.intp],
    ) -> None:
        rows = np.empty(len(keep), dtype=TICK_DTYPE)
        for name in TICK_DTYPE.names or ():
            rows[name] = getattr(batch, name)[keep]
        for i, state in enumerate(states):
            if bounds[i] < bounds[i + 1]:
                state.ticks.extend(rows[bounds[i] : bounds[i + 1]])

    def _fold(
        self, states: list[SymbolState], names: npt.NDArray[np.object_], segs: Segments
    ) -> tuple[int, list[str]]:
        bounds = np.searchsorted(segs.code, np.arange(len(states) + 1))
        closed_total = 0
        changed: list[str] = []
        for i, state in enumerate(states):
            if bounds[i] == bounds[i + 1]:
                continue
            closed = _close(state, segs.bars[bounds[i] : bounds[i + 1]])
            if len(closed):
                state.bars.extend(closed)
                state.version += 1
                closed_total += len(closed)
                changed.append(str(names[i]))
        return closed_total, changed


def _close(state: SymbolState, part: Bars) -> Bars:
    """Fold one symbol's partial bars into its forming bar; return the bars that closed."""
    if state.forming is not None and part["start_ns"][0] == state.forming_start_ns:
        part = part.copy()
        part[0] = merge(state.forming, part[:1])[0]
        earlier = np.empty(0, dtype=BAR_DTYPE)
    else:
        earlier = state.forming if state.forming is not None else np.empty(0, dtype=BAR_DTYPE)
    state.forming = part[-1:].copy()
    return np.concatenate((earlier, part[:-1]))


def _late(
    code: npt.NDArray[np.intp], start: npt.NDArray[np.int64], forming: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Ticks whose bar starts before a bar already seen for their symbol: before the
    forming bar, or before an earlier tick of the same batch."""
    seen = pd.Series(start).groupby(code).cummax().to_numpy()
    return (start < seen) | (start < forming[code])


def _first_partition(
    batch: TickBatch, codes: npt.NDArray[np.intp], n: int
) -> npt.NDArray[np.int32]:
    first = np.full(n, -1, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes))[::-1]
    return batch.partition[first]


def bars_to_frame(rows: Bars) -> pd.DataFrame:
    """Closed bars as a DataFrame: OHLCV, VWAP and trade count, indexed by bar start."""
    frame = pd.DataFrame({n: rows[n] for n in ("open", "high", "low", "close", "volume")})
    frame["vwap"] = vwap(rows)
    frame["count"] = rows["count"]
    frame.index = pd.to_datetime(rows["start_ns"], unit="ns", utc=True).rename("start")
    return frame
