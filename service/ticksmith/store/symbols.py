"""Which symbols the store holds: a slot each, up to a limit, found by name a batch at a time.

A symbol's slot indexes every per-symbol array of the store. A batch names
each of its distinct symbols once (``TickBatch.names``), so finding their slots
is one dict lookup per distinct symbol, not per tick; adding or removing a
symbol costs O(1), with no index to rebuild.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import numpy.typing as npt

from ticksmith.bar import BarKey
from ticksmith.store.bars import BAR_DTYPE
from ticksmith.store.history import RowHistory

Ints = npt.NDArray[np.intp]
NO_SLOT = -1
INITIAL_ROWS = 16


def initial_rows(symbol: str) -> int:
    """A new symbol's history rows before it grows (by doubling): 16 to 31, by a
    stable hash of its name. Symbols that start together then grow at different
    bars: with one size for all, a boundary copied every history at once (bar 17,
    33, ...: 2.3 -> 9.7 ms of the store's step at 1,000 symbols)."""
    return INITIAL_ROWS + zlib.crc32(symbol.encode()) % INITIAL_ROWS


@dataclass(slots=True)
class SymbolState:
    """One symbol's closed bars per interval (its recent ticks are the store's
    tick window row `slot`)."""

    symbol: str
    slot: int
    partition: int
    bars: dict[BarKey, RowHistory]  # a history's `total` versions what is derived from it

    @property
    def nbytes(self) -> int:
        return sum(r.nbytes for r in self.bars.values())


class SymbolTable:
    def __init__(self, max_symbols: int) -> None:
        self.max_symbols = max_symbols
        self._symbols: dict[str, SymbolState] = {}
        self._slot_of: dict[str, int] = {}  # what lookup() reads: an int per name is cheaper
        self._by_slot: list[SymbolState | None] = []
        self._free: list[int] = []
        self.partition: Ints = np.full(64, NO_SLOT, dtype=np.intp)  # per slot; -1: unused

    def __len__(self) -> int:
        return len(self._symbols)

    def __iter__(self) -> Iterator[SymbolState]:
        return iter(self._symbols.values())

    def __getitem__(self, symbol: str) -> SymbolState:
        return self._symbols[symbol]

    def get(self, symbol: str) -> SymbolState | None:
        return self._symbols.get(symbol)

    def at(self, slot: int) -> SymbolState:
        state = self._by_slot[slot]
        assert state is not None, f"slot {slot} is free"
        return state

    @property
    def size(self) -> int:
        """Slots ever handed out (used or free): the length per-slot arrays need."""
        return len(self._by_slot)

    def size_with(self, new: int) -> int:
        """What ``size`` would be after `new` more symbols (free slots first; none
        past ``max_symbols``)."""
        added = min(new - len(self._free), self.max_symbols - self.size)
        return self.size + max(0, added)

    @property
    def full(self) -> bool:
        return len(self._symbols) >= self.max_symbols

    def lookup(self, names: npt.NDArray[np.object_]) -> Ints:
        """The slot of each name, NO_SLOT for a symbol not held."""
        return np.fromiter(
            map(self._slot_of.get, names.tolist(), repeat(NO_SLOT)), np.intp, len(names)
        )

    def add(self, symbol: str, partition: int, keys: tuple[BarKey, ...], history: int) -> int:
        """A slot for a new symbol (owned by `partition`), or NO_SLOT when the table is full."""
        if self.full:
            return NO_SLOT
        slot = self._free.pop() if self._free else self._new_slot()
        rows = initial_rows(symbol)
        bars = {key: RowHistory(BAR_DTYPE, history, rows) for key in keys}
        state = SymbolState(symbol=symbol, slot=slot, partition=partition, bars=bars)
        self._symbols[symbol] = state
        self._slot_of[symbol] = slot
        self._by_slot[slot] = state
        self.partition[slot] = partition
        return slot

    def remove(self, slots: Ints) -> list[str]:
        """Free the given slots; return their symbols."""
        names = []
        for slot in slots.tolist():
            state = self.at(slot)
            del self._symbols[state.symbol]
            del self._slot_of[state.symbol]
            self._by_slot[slot] = None
            self._free.append(slot)
            names.append(state.symbol)
        self.partition[slots] = NO_SLOT
        return names

    def slots_of(self, partitions: set[int]) -> Ints:
        """Used slots owned by any of `partitions`."""
        part = self.partition[: self.size]
        return np.flatnonzero(np.isin(part, list(partitions)) & (part != NO_SLOT))

    def _new_slot(self) -> int:
        slot = len(self._by_slot)
        self._by_slot.append(None)
        if slot == len(self.partition):
            self.partition = np.concatenate((self.partition, np.full(slot, NO_SLOT, np.intp)))
        return slot
