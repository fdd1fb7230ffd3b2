"""Shared value types for ticks on the ingest path: a batch is columns, not objects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

SIDES = ("B", "S")  # side codes: index in this tuple


@dataclass(frozen=True, slots=True)
class TickBatch:
    """Ticks decoded from one fetch, in partition order, as aligned columns.

    A tick's symbol is ``names[code]``: the decoders name each record's symbol
    once, so no per-tick string is made or hashed on the hot path. ``names`` may
    hold symbols that no tick of the batch has any more (after ``take``).
    `partition` and `offset` say which record each tick came from, so effects can
    be traced back to offsets (a binary record may carry many ticks).
    """

    code: npt.NDArray[np.intp]
    names: npt.NDArray[np.object_]
    ts_ns: npt.NDArray[np.int64]
    price: npt.NDArray[np.float64]
    size: npt.NDArray[np.float64]
    side: npt.NDArray[np.int8]
    partition: npt.NDArray[np.int32]
    offset: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.ts_ns)

    @property
    def symbol(self) -> npt.NDArray[np.object_]:
        """Each tick's symbol (a new object array: not for the hot path)."""
        return self.names[self.code]

    def take(self, index: npt.NDArray[np.intp] | npt.NDArray[np.bool_] | slice) -> TickBatch:
        return TickBatch(
            code=self.code[index],
            names=self.names,
            ts_ns=self.ts_ns[index],
            price=self.price[index],
            size=self.size[index],
            side=self.side[index],
            partition=self.partition[index],
            offset=self.offset[index],
        )

    @classmethod
    def of_symbols(
        cls,
        symbol: npt.ArrayLike,
        ts_ns: npt.NDArray[np.int64],
        price: npt.NDArray[np.float64],
        size: npt.NDArray[np.float64],
        side: npt.NDArray[np.int8],
        partition: npt.NDArray[np.int32],
        offset: npt.NDArray[np.int64],
    ) -> TickBatch:
        """A batch from a per-tick symbol column (tests, tools)."""
        code, names = pd.factorize(np.asarray(symbol, dtype=object))
        return cls(
            np.asarray(code, np.intp),
            np.asarray(names, dtype=object),
            ts_ns,
            price,
            size,
            side,
            partition,
            offset,
        )

    @classmethod
    def empty(cls) -> TickBatch:
        return cls(
            code=np.empty(0, dtype=np.intp),
            names=np.empty(0, dtype=object),
            ts_ns=np.empty(0, dtype=np.int64),
            price=np.empty(0, dtype=np.float64),
            size=np.empty(0, dtype=np.float64),
            side=np.empty(0, dtype=np.int8),
            partition=np.empty(0, dtype=np.int32),
            offset=np.empty(0, dtype=np.int64),
        )
