"""Bar columns as the indicators read them, and the array types they share."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from ticksmith.store.bars import BAR_DTYPE, Bars, vwap

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Rows = npt.NDArray[np.intp]
Bools = npt.NDArray[np.bool_]

FIELDS = ("open", "high", "low", "close", "volume", "vwap")


def floats(values: npt.ArrayLike) -> Floats:
    # Contiguous float64 everywhere, so every numpy kernel sees the same layout
    # in the backfill and the incremental path.
    return np.ascontiguousarray(values, dtype=np.float64)


def kernel_inputs(rows: Rows, x: npt.ArrayLike) -> tuple[Rows, Floats]:
    """A push's rows and inputs as the compiled kernels take them: C-contiguous
    intp and float64."""
    return np.ascontiguousarray(rows, np.intp), floats(x)


def stack(parts: Iterable[Bars]) -> Bars:
    """The store's bars (``BAR_DTYPE`` arrays, any strides) end to end, as one
    read-only array.

    Joined as bytes: ``np.concatenate`` of structured arrays reconciles their
    fields once per part, ~10x slower for a thousand symbols' few bars each.
    """
    return np.frombuffer(b"".join([part.tobytes() for part in parts]), BAR_DTYPE)


@dataclass(frozen=True, slots=True)
class BarColumns:
    """Closed bars as parallel float64 columns, one element per bar.

    In the incremental path element i belongs to the symbol row ``rows[i]``;
    in the backfill path the elements are one symbol's bars, oldest first.
    ``vwap`` is NaN for a bar without volume.
    """

    open: Floats
    high: Floats
    low: Floats
    close: Floats
    volume: Floats
    vwap: Floats

    def __len__(self) -> int:
        return len(self.close)

    def take(self, index: npt.NDArray[np.intp]) -> BarColumns:
        return BarColumns(*(getattr(self, f)[index] for f in FIELDS))

    @classmethod
    def of(cls, **columns: npt.ArrayLike) -> BarColumns:
        return cls(*(floats(columns[f]) for f in FIELDS))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> BarColumns:
        """From the store's bars frame (columns open … vwap)."""
        return cls(*(floats(frame[f].to_numpy()) for f in FIELDS))

    @classmethod
    def from_records(cls, bars: Bars) -> BarColumns:
        """From the store's ``BAR_DTYPE`` records; VWAP as the store computes it."""
        named = {f: bars[f] for f in FIELDS if f != "vwap"}
        return cls.of(**named, vwap=vwap(bars))

    @classmethod
    def concat(cls, parts: list[BarColumns]) -> BarColumns:
        return cls(*(floats(np.concatenate([[], *(getattr(p, f) for p in parts)])) for f in FIELDS))
