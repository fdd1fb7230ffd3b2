"""Bars in progress with every indicator's value as if they closed now.

The store's forming bars (``Store.forming``) and the indicator worker's peek
(``IndicatorWorker.peek``) are both read on the event loop between steps, which
update the store and the worker together, so the two always agree: the values
are those the worker will publish for these bars if they close with no further
tick. Nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence

from ticksmith.indicators.closed import ClosedValues
from ticksmith.pipeline.indicator_worker import IndicatorWorker
from ticksmith.store.store import Store


class FormingReader:
    def __init__(self, store: Store, worker: IndicatorWorker) -> None:
        self._store = store
        self._worker = worker

    def read(self, symbol: str, intervals_ms: Sequence[int]) -> dict[int, ClosedValues] | None:
        """Per interval, the symbol's bars in progress (oldest first; none when no
        tick is pending) with their values and ready flags; None for a symbol not
        held here."""
        if self._store.get(symbol) is None:
            return None
        return {ms: self._one(symbol, ms) for ms in intervals_ms}

    def _one(self, symbol: str, interval_ms: int) -> ClosedValues:
        bars = self._store.forming(symbol, interval_ms)
        return self._worker.peek(interval_ms, symbol, bars)
