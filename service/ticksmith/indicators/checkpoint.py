"""What an exact rebuild of a symbol's indicators needs once its history is cut.

The store keeps the last ``bars.history_bars`` closed bars per symbol; the
worker's values at a bar depend on every bar before it (EMA, RSI, ATR, MACD and
OBV are recursive). So the bars the store pushes out are not thrown away at
once: they go into a lagging engine, whose state for a symbol is the live
engine's state at the bar before the oldest one kept. A rebuild then equals the
published values bit for bit:

* recursive indicators resume from the lagging state (``IndicatorState.resume``:
  the same step over the kept bars, as the backfill runs it);
* windowed ones (their state is only a window of recent inputs) are the backfill
  over the last `context` pushed-out bars plus the kept ones, laid out on the
  symbol's block phase as if from its first bar, with the context's values cut
  off. A kept bar's value reads the `lookback` bars before it and no others:
  the block before its own is read by suffix sums, from its right end, so the
  missing start of that block never enters (see ``kernels/blocked.py``);
* while no more than `context` bars were pushed out, all of them are still here
  and the rebuild is the backfill from the first bar.

Memory: the lagging engine is as large as the live one, plus `context` bars per
symbol (``nbytes``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ticksmith.indicators.columns import BarColumns, Floats, Ints, stack
from ticksmith.indicators.engine import IndicatorEngine, occurrence
from ticksmith.indicators.kernels.rowstate import grown
from ticksmith.indicators.spec import IndicatorSpec
from ticksmith.store.bars import BAR_DTYPE, Bars


def context_bars(specs: Sequence[IndicatorSpec]) -> int:
    """Pushed-out bars kept per symbol: what the longest lookback reads, and one
    more, so that past them every recursive indicator is seeded and resumes."""
    return max((spec.lookback for spec in specs), default=0) + 1


class Checkpoint:
    """One interval's lagging engine and recent pushed-out bars."""

    def __init__(self, specs: Sequence[IndicatorSpec], staggered: bool = True) -> None:
        self.specs = tuple(specs)
        self.context = context_bars(self.specs)
        self._engine = IndicatorEngine(self.specs, staggered=staggered)
        self._windowed = self._engine.windowed()
        self._bars = np.zeros((0, self.context), BAR_DTYPE)  # a ring per engine row
        self._dropped: Ints = np.zeros(0, np.int64)  # bars pushed out, per row

    @property
    def nbytes(self) -> int:
        return int(self._bars.nbytes + self._dropped.nbytes + self._engine.nbytes)

    def dropped(self, symbol: str) -> int:
        row = self._engine.row_of(symbol)
        return 0 if row is None else int(self._dropped[row])

    def advance(self, evicted: Mapping[str, Bars]) -> None:
        """Take the bars the store pushed out (per symbol, oldest first)."""
        if not evicted:
            return
        symbols = list(evicted)
        counts = np.fromiter(map(len, evicted.values()), np.int64, len(symbols))
        bars = stack(evicted.values())
        rows = np.repeat(self._engine.rows(symbols), counts)
        self._grow(self._engine.size)
        self._engine.update(rows, BarColumns.from_records(bars))
        index = self._dropped[rows] + occurrence(rows)  # each bar's place in its row's
        np.add.at(self._dropped, rows, 1)
        last = index >= self._dropped[rows] - self.context  # a row's newest `context`
        self._bars[rows[last], index[last] % self.context] = bars[last]

    def drop(self, symbols: Iterable[str]) -> None:
        self._dropped[self._engine.drop(symbols)] = 0

    def values(self, symbol: str, phase: int, kept: Bars) -> dict[str, Floats]:
        """Every indicator column over `kept`, the symbol's bars the store holds
        (oldest first), exactly as the live engine computed them."""
        row = self._engine.row_of(symbol)
        dropped = 0 if row is None else int(self._dropped[row])
        if row is None or dropped <= self.context:  # every bar since the first is here
            return self._backfill(self._context(row, dropped), phase, kept, self.specs)
        recursive = self._engine.resume(row, BarColumns.from_records(kept))
        context = self._context(row, self.context)
        first = dropped - self.context  # the context's first bar, counted from the first
        return recursive | self._backfill(context, phase + first, kept, self._windowed)

    @staticmethod
    def _backfill(
        context: Bars, phase: int, kept: Bars, specs: Sequence[IndicatorSpec]
    ) -> dict[str, Floats]:
        """The backfill over `context` then `kept` (`phase`: the first context bar's
        block phase, as ``IndicatorSpec.backfill`` takes it); the rows of `kept`."""
        bars = BarColumns.from_records(np.concatenate((context, kept)))
        out: dict[str, Floats] = {}
        for spec in specs:
            out |= spec.backfill(bars, phase)
        return {c: v[len(context) :] for c, v in out.items()}

    def _context(self, row: int | None, n: int) -> Bars:
        """The row's newest `n` pushed-out bars, oldest first."""
        if row is None or n == 0:
            return np.empty(0, BAR_DTYPE)
        dropped = int(self._dropped[row])
        bars: Bars = self._bars[row, (dropped - n + np.arange(n)) % self.context]
        return bars

    def _grow(self, size: int) -> None:
        if size > len(self._dropped):
            capacity = max(size, 2 * len(self._dropped), 16)
            self._dropped = grown(self._dropped, capacity, 0)
            bars = np.zeros((capacity, self.context), BAR_DTYPE)
            bars[: len(self._bars)] = self._bars
            self._bars = bars
