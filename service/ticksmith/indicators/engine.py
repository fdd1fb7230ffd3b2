"""Every configured indicator, updated incrementally for every symbol at once."""

from __future__ import annotations

import copy
import zlib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ticksmith.indicators.base import IndicatorState
from ticksmith.indicators.columns import BarColumns, Bools, Floats, Ints, Rows, stack
from ticksmith.indicators.rows import RowTable
from ticksmith.indicators.spec import IndicatorSpec
from ticksmith.store.bars import Bars


def phase_of(symbol: str) -> int:
    """Where the symbol's window blocks start (see ``kernels.block_buffer.BlockBuffer``):
    a stable hash of its name, so that symbols which start together do not all pay their
    once-per-window pass on the same bar, and so a backfill can use the same."""
    return zlib.crc32(symbol.encode())


def occurrence(rows: Rows) -> Ints:
    """For each element, how many earlier elements hold the same row."""
    order = np.argsort(rows, kind="stable")
    ranked = rows[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    lengths = np.diff(np.r_[starts, len(rows)])
    rank = np.empty(len(rows), np.int64)
    rank[order] = np.arange(len(rows)) - np.repeat(starts, lengths)
    return rank


class IndicatorEngine:
    """The incremental path: one state per spec, one row per symbol in each.

    Per closed bar the cost is O(1) whatever the windows (amortised: each
    windowed statistic makes one pass over a symbol's block per window length),
    and numpy does the work for all symbols of a batch at once. With
    ``staggered`` (the default) each symbol's blocks start at ``phase_of(symbol)``;
    ``IndicatorSpec.backfill(bars, phase_of(symbol))`` then equals the engine's
    values bit for bit. Without it every phase is 0.
    """

    def __init__(
        self, specs: Sequence[IndicatorSpec], capacity: int = 64, staggered: bool = True
    ) -> None:
        self.specs = tuple(specs)
        self.columns = tuple(c for spec in self.specs for c in spec.columns)
        self.staggered = staggered
        self._capacity = capacity
        self._states = [spec.state(capacity) for spec in self.specs]
        self._names = [{o: spec.column(o) for o in spec.indicator.outputs} for spec in self.specs]
        self._table = RowTable()

    def __len__(self) -> int:
        return len(self._table)

    @property
    def size(self) -> int:
        """Rows handed out so far: the states hold at least this many."""
        return self._table.size

    @property
    def nbytes(self) -> int:
        return sum(state.nbytes for state in self._states)

    def windowed(self) -> tuple[IndicatorSpec, ...]:
        """The specs whose state is a window of recent inputs: they do not resume."""
        return tuple(spec for spec, state in self._pairs() if not state.resumes)

    def phase_of(self, symbol: str) -> int:
        return phase_of(symbol) if self.staggered else 0

    def rows(self, symbols: Sequence[str]) -> Rows:
        """Rows of `symbols`; a new symbol gets a fresh row (a freed one if any)."""
        new = [s for s in dict.fromkeys(symbols) if s not in self._table]
        rows = self._table.rows(symbols)
        if self._table.size > self._capacity:
            self._grow(max(self._table.size, 2 * self._capacity))
        if new:
            fresh = self._table.rows(new)
            phases = np.array([self.phase_of(s) for s in new], dtype=np.int64)
            for state in self._states:
                state.reset(fresh, phases)
        return rows

    def row_of(self, symbol: str) -> int | None:
        return self._table.row_of(symbol)

    def drop(self, symbols: Iterable[str]) -> Rows:
        """Forget `symbols` (e.g. their partitions were revoked); returns their rows,
        which are reset when a symbol takes them again."""
        return self._table.drop(symbols)

    def resume(self, row: int, bars: BarColumns) -> dict[str, Floats]:
        """The columns of every recursive indicator for `bars` following what `row`
        has seen (``IndicatorState.resume``), the state unchanged; windowed ones
        are left out."""
        out: dict[str, Floats] = {}
        for names, state in zip(self._names, self._states, strict=True):
            values = state.resume(row, bars)
            if values is not None:
                out |= {names[k]: v for k, v in values.items()}
        return out

    def update(self, rows: Rows, bars: BarColumns) -> dict[str, Floats]:
        """Advance each row by its bars in `bars` (aligned with `rows`).

        A row may appear several times, oldest bar first: its k-th bar goes in
        the k-th vectorised step. Returns every column aligned with `rows`.
        """
        if len(rows) == 0 or np.bincount(rows).max() == 1:
            return self._step(rows, bars)
        rank = occurrence(rows)
        out = {c: np.empty(len(rows)) for c in self.columns}
        for k in range(int(rank.max()) + 1):
            at = np.flatnonzero(rank == k)
            for column, values in self._step(rows[at], bars.take(at)).items():
                out[column][at] = values
        return out

    def update_closed(self, closed: Mapping[str, Bars]) -> dict[str, dict[str, Floats]]:
        """Advance by the store's closed bars per symbol (``ApplyResult.closed``);
        returns each symbol's columns for those bars."""
        if not closed:
            return {}
        symbols = list(closed)
        counts = np.array([len(closed[s]) for s in symbols])
        out = self.update_stacked(symbols, counts, stack(closed.values()))
        ends = np.cumsum(counts)
        return {
            s: {c: v[end - n : end] for c, v in out.items()}
            for s, n, end in zip(symbols, counts, ends, strict=True)
        }

    def update_stacked(self, symbols: Sequence[str], counts: Ints, bars: Bars) -> dict[str, Floats]:
        """Advance by `bars`: `symbols` in order, ``counts[i]`` bars each, oldest
        first. Returns every column aligned with `bars`."""
        rows = np.repeat(self.rows(symbols), counts)
        return self.update(rows, BarColumns.from_records(bars))

    def peek(self, symbol: str, bars: BarColumns) -> dict[str, Floats]:
        """Every column ``update`` would return if `bars` (oldest first) closed for
        `symbol` now, the engine only read: the same update runs on a copy of the
        symbol's row of each state (a fresh row for a symbol not seen yet)."""
        row, phase = self._table.row_of(symbol), self.phase_of(symbol)
        peeker = copy.copy(self)  # shares specs and names; its states are the copies
        peeker._states = [state.one_row(row, phase) for state in self._states]
        return peeker.update(np.zeros(len(bars), np.intp), bars)

    def ready(self, rows: Rows) -> dict[str, Bools]:
        """Per spec label: whether each row has seen more than its lookback."""
        return {spec.label: state.ready(rows) for spec, state in self._pairs()}

    def _step(self, rows: Rows, bars: BarColumns) -> dict[str, Floats]:
        out: dict[str, Floats] = {}
        for names, state in zip(self._names, self._states, strict=True):
            out |= {names[k]: v for k, v in state.update(rows, bars).items()}
        return out

    def _pairs(self) -> zip[tuple[IndicatorSpec, IndicatorState]]:
        return zip(self.specs, self._states, strict=True)

    def _grow(self, capacity: int) -> None:
        for state in self._states:
            state.grow(capacity)
        self._capacity = capacity
