"""Which state row belongs to which symbol."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ticksmith.indicators.columns import Rows


class RowTable:
    """Symbol to row. A dropped symbol's row goes on a free list and is reused,
    so rows never move and dropping costs no compaction."""

    def __init__(self) -> None:
        self._row: dict[str, int] = {}
        self._free: list[int] = []
        self.size = 0  # rows ever handed out: the states need this many

    def __len__(self) -> int:
        return len(self._row)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._row

    def row_of(self, symbol: str) -> int | None:
        return self._row.get(symbol)

    def rows(self, symbols: Sequence[str]) -> Rows:
        """Rows of `symbols`, allocating one for each symbol not seen yet."""
        return np.fromiter((self._get(s) for s in symbols), np.intp, len(symbols))

    def drop(self, symbols: Iterable[str]) -> Rows:
        """Forget `symbols`; returns their rows, free for the next new symbols."""
        freed = [self._row.pop(s) for s in symbols if s in self._row]
        self._free.extend(freed)
        return np.array(freed, dtype=np.intp)

    def _get(self, symbol: str) -> int:
        row = self._row.get(symbol)
        if row is None:
            row = self._free.pop() if self._free else self._next()
            self._row[symbol] = row
        return row

    def _next(self) -> int:
        self.size += 1
        return self.size - 1
