"""What every indicator provides: typed parameters, an incremental state for many
symbols at once, and a backfill over one symbol's history that equals it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import astuple, dataclass
from typing import ClassVar, Generic, TypeVar

import numpy as np

from ticksmith.indicators.columns import BarColumns, Bools, Floats, Ints, Rows
from ticksmith.indicators.kernels.rowstate import RowState, grown, one_row

Outputs = dict[str, Floats]


@dataclass(frozen=True, slots=True)
class Params:
    """An indicator's parameters; subclasses are frozen dataclasses with
    TA-Lib's defaults that validate themselves in ``__post_init__``."""

    @property
    def lookback(self) -> int:
        """Bars before the first value, as ``TA_<NAME>_Lookback`` reports."""
        raise NotImplementedError

    def label(self) -> str:
        return "_".join(f"{v:g}" for v in astuple(self))


@dataclass(frozen=True, slots=True)
class PeriodParams(Params):
    """Parameters led by a window of `period` bars, at least ``MIN_PERIOD``.

    The lookback is ``period - 1``, and one more for an indicator that reads
    the previous close (``READS_PREVIOUS_CLOSE``: its first input needs a bar
    before it). A subclass gives `period` its TA-Lib default by declaring the
    field again, and may add parameters after it.
    """

    period: int
    MIN_PERIOD: ClassVar[int] = 1
    READS_PREVIOUS_CLOSE: ClassVar[bool] = False

    def __post_init__(self) -> None:
        check_int("period", self.period, self.MIN_PERIOD)

    @property
    def lookback(self) -> int:
        return self.period - 1 + int(self.READS_PREVIOUS_CLOSE)


def check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_float(name: str, value: object, minimum: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= minimum:
        raise ValueError(f"{name} must be a number >= {minimum:g}, got {value!r}")


def scatter(mask: Bools, values: Floats) -> Floats:
    """`values` (one per True in `mask`) at their places, NaN elsewhere."""
    if mask.all():
        return values
    out = np.full(len(mask), np.nan)
    out[mask] = values
    return out


def shifted(values: Floats, by: int, length: int) -> Floats:
    """`values` placed from index `by` in a NaN array of `length` (a sub-series
    that starts later than the bars, aligned back onto them)."""
    out = np.full(length, np.nan)
    out[by : by + len(values)] = values
    return out


class IndicatorState(ABC):
    """One indicator's incremental state for many symbols, one row per symbol.

    ``update`` takes the bars that just closed, at most one per row, and
    returns each output for those rows: NaN until the row is ready (has seen
    more than ``lookback`` bars), exactly as the backfill reports them.
    """

    def __init__(self, lookback: int, capacity: int) -> None:
        self.lookback = lookback
        self._seen: Ints = np.zeros(capacity, np.int64)

    def update(self, rows: Rows, bars: BarColumns) -> Outputs:
        t = self._seen[rows]
        outputs = self._step(rows, bars, t)
        self._seen[rows] = t + 1
        ready = t >= self.lookback
        return {name: np.where(ready, v, np.nan) for name, v in outputs.items()}

    def ready(self, rows: Rows) -> Bools:
        return self._seen[rows] > self.lookback

    def grow(self, capacity: int) -> None:
        self._seen = grown(self._seen, capacity, 0)
        for part in self._parts():
            part.grow(capacity)

    def reset(self, rows: Rows, phases: Ints) -> None:
        """Make `rows` fresh, their windows starting at `phases`
        (see ``kernels.block_buffer.BlockBuffer``)."""
        self._seen[rows] = 0
        for part in self._parts():
            part.reset(rows, phases)

    def resume(self, row: int, bars: BarColumns) -> Outputs | None:
        """The outputs ``update`` would return for `bars`, fed to `row` one by one,
        without changing the state; or None for an indicator whose state is a window
        of earlier inputs (its backfill over the bars before `bars` gives the same).
        The row must be past its warm-up: a recursive indicator resumes from its
        running values, which the backfill could only rebuild from the first bar."""
        if not self.resumes:
            return None
        if self._seen[row] <= self.lookback:
            raise ValueError(f"row {row} has seen {self._seen[row]} bars, not past its warm-up")
        return self._resume(row, bars)

    def _resume(self, row: int, bars: BarColumns) -> Outputs | None:
        return None

    def one_row(self, row: int | None, phase: int) -> IndicatorState:
        """A state of one row (row 0) holding a copy of `row`'s state, or a fresh
        row with `phase` when None: ``update`` on it returns what it would return
        on `row` here, by the same code, and this state is only read (a peek)."""
        twin = one_row(self, len(self._seen), 0 if row is None else row)
        if row is None:
            twin.reset(np.zeros(1, np.intp), np.array([phase], np.int64))
        return twin

    @property
    def resumes(self) -> bool:
        return type(self)._resume is not IndicatorState._resume

    @property
    def nbytes(self) -> int:
        """Bytes of the state's arrays."""
        return _array_bytes(self, depth=3)

    @abstractmethod
    def _step(self, rows: Rows, bars: BarColumns, t: Ints) -> Outputs:
        """Advance `rows` by one bar each; `t` is each row's bar index."""

    @abstractmethod
    def _parts(self) -> tuple[RowState, ...]: ...


def _array_bytes(obj: object, depth: int) -> int:
    """Bytes of the numpy arrays among `obj`'s attributes, `depth` objects deep."""
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if depth == 0 or not hasattr(obj, "__dict__"):
        return 0
    return sum(_array_bytes(v, depth - 1) for v in vars(obj).values())


P = TypeVar("P", bound=Params)


@dataclass(frozen=True, slots=True)
class Indicator(Generic[P]):
    """A registry entry: the config name, the parameter type, the output names
    (a single output is named like the indicator), and the two paths. The
    backfill takes the symbol's phase (see ``kernels.block_buffer.BlockBuffer``)."""

    name: str
    params: type[P]
    outputs: tuple[str, ...]
    state: Callable[[P, int], IndicatorState]
    backfill: Callable[[BarColumns, P, int], Outputs]

    def backfill_ready(self, bars: BarColumns, params: P, phase: int) -> Outputs:
        """The backfill with NaN over the warm-up, as the state reports it."""
        outputs = {k: v.copy() for k, v in self.backfill(bars, params, phase).items()}
        for values in outputs.values():
            values[: params.lookback] = np.nan
        return outputs
