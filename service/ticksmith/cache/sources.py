"""What the cache derives from the store: indicator frames and tick frames."""

from __future__ import annotations

import pandas as pd

from ticksmith.cache.proxy_cache import Key
from ticksmith.errors import TicksmithError
from ticksmith.indicators import IndicatorSpec, indicator_frame, phase_of
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
    """Closed bars plus every configured indicator; changes when a bar closes."""

    def __init__(self, store: Store, specs: tuple[IndicatorSpec, ...]) -> None:
        super().__init__(store)
        self._specs = specs

    def version(self, key: Key) -> int:
        return self._state(key).version

    def compute(self, key: Key) -> pd.DataFrame:
        self._state(key)
        bars = self._store.bars_frame(key.symbol, key.interval_ms)
        return indicator_frame(bars, self._specs, phase_of(key.symbol))


class BarSource(_StoreSource):
    """Closed bars only; changes when a bar closes."""

    def version(self, key: Key) -> int:
        return self._state(key).version

    def compute(self, key: Key) -> pd.DataFrame:
        self._state(key)
        return self._store.bars_frame(key.symbol, key.interval_ms)


class TickSource(_StoreSource):
    """The symbol's recent ticks; changes with every tick."""

    def version(self, key: Key) -> int:
        self._state(key)
        return self._store.tick_count(key.symbol)

    def compute(self, key: Key) -> pd.DataFrame:
        self._state(key)
        return self._store.ticks_frame(key.symbol)
