"""Per-symbol state held as numpy arrays with one row per symbol."""

from __future__ import annotations

import copy
from typing import Protocol, TypeVar, runtime_checkable

import numpy as np
import numpy.typing as npt

from ticksmith.indicators.columns import Floats, Ints, Rows

T = TypeVar("T", bound=np.generic)
S = TypeVar("S")


@runtime_checkable
class RowState(Protocol):
    """State with one row per symbol: grows with the symbol table, and a row is
    reset (not removed) when a symbol takes it, so row numbers stay stable.
    `phases` (one per row) set where each row's window blocks start."""

    def grow(self, capacity: int) -> None: ...

    def reset(self, rows: Rows, phases: Ints) -> None: ...


def one_row(state: S, capacity: int, row: int) -> S:
    """A shallow copy of `state` whose per-row arrays hold only `row` (copied),
    with every RowState among its attributes copied the same way. Every array of
    a row state has one row per symbol (``grow`` grows them all to `capacity`);
    anything else (parameters, step functions) is shared, being never written."""
    twin = copy.copy(state)
    for name, value in vars(state).items():
        if isinstance(value, np.ndarray):
            if value.shape[0] != capacity:
                raise TypeError(f"{type(state).__name__}.{name} is not one row per symbol")
            setattr(twin, name, value[row : row + 1].copy())
        elif isinstance(value, RowState):
            setattr(twin, name, one_row(value, capacity, row))
    return twin


def grown(array: npt.NDArray[T], capacity: int, fill: float) -> npt.NDArray[T]:
    """`array` with at least `capacity` rows; new rows hold `fill`."""
    if len(array) >= capacity:
        return array
    out = np.full((capacity, *array.shape[1:]), fill, dtype=array.dtype)
    out[: len(array)] = array
    return out


class Column:
    """One float per row: a running total, or the last value seen (the previous
    close, for changes and ranges)."""

    def __init__(self, capacity: int, fill: float) -> None:
        self._fill = fill
        self.values = np.full(capacity, fill)

    def swap(self, rows: Rows, x: Floats) -> Floats:
        """Store `x` and return what it replaces (`fill` for a row's first value)."""
        before = self.values[rows]
        self.values[rows] = x
        return before

    def then(self, row: int, x: Floats) -> Floats:
        """What ``swap`` would return for `x` fed to `row` one by one: the row's
        value, then `x` but its last; the state is left as it is."""
        return np.concatenate((self.values[row : row + 1], x[:-1]))

    def grow(self, capacity: int) -> None:
        self.values = grown(self.values, capacity, self._fill)

    def reset(self, rows: Rows, phases: Ints) -> None:
        self.values[rows] = self._fill


def previous(capacity: int) -> Column:
    """The last close per row; NaN before the first."""
    return Column(capacity, np.nan)
