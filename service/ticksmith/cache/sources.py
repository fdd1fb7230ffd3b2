"""What the cache derives from the store: indicator frames and tick frames."""

from __future__ import annotations

import pandas as pd

from ticksmith.cache.frames import GrowingFrame, bars_to_frame, ticks_to_frame
from ticksmith.cache.proxy_cache import Key
from ticksmith.errors import TicksmithError
from ticksmith.pipeline.indicator_worker import IndicatorWorker
from ticksmith.store.store import Store
from ticksmith.store.symbols import SymbolState


class UnknownSymbol(TicksmithError, KeyError):
    """No state for this symbol here: never seen, or owned by another instance."""


class _StoreSource:
    def __init__(self, store: Store) -> None:
        self._store = store

    def _state(self, key: Key) -> SymbolState:
        state = self._store.get(key.symbol)
        if state is None:
            raise UnknownSymbol(key.symbol)
        return state


class IndicatorSource(_StoreSource):
    """Closed bars plus every configured indicator, as a frame the indicator worker
    feeds (cache/frames.py); built here only when none is held, by the worker's
    exact rebuild over the bars the store holds."""

    def __init__(self, store: Store, worker: IndicatorWorker, keep: int) -> None:
        super().__init__(store)
        self._worker = worker
        self._columns = tuple(c for spec in worker.specs for c in spec.columns)
        self._keep = keep

    def version(self, key: Key) -> int:
        """The bars ever closed at this interval: the fed frame holds as many."""
        return self._state(key).bars[key.interval_ms].total

    def compute(self, key: Key) -> GrowingFrame:
        history = self._state(key).bars[key.interval_ms]
        rows = history.to_array()
        values = self._worker.rebuild(key.interval_ms, key.symbol, rows)
        frame = GrowingFrame(self._columns, self._keep, capacity=max(len(rows), 16))
        frame.append(rows, values)
        frame.total = history.total
        return frame


class BarSource(_StoreSource):
    """Closed bars only; changes when a bar closes."""

    def version(self, key: Key) -> int:
        return self._state(key).bars[key.interval_ms].total

    def compute(self, key: Key) -> pd.DataFrame:
        self._state(key)
        return bars_to_frame(self._store.bars(key.symbol, key.interval_ms))


class TickSource(_StoreSource):
    """The symbol's recent ticks; changes with every tick."""

    def version(self, key: Key) -> int:
        self._state(key)
        return self._store.tick_count(key.symbol)

    def compute(self, key: Key) -> pd.DataFrame:
        self._state(key)
        return ticks_to_frame(self._store.ticks(key.symbol))
