"""The forming bars' response: each chosen interval's bars in progress with
every indicator's value and ready flags as if they closed now
(``pipeline/forming.py``), as one table of rows led by their interval."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from ticksmith.bar import START, START_COLUMN
from ticksmith.indicators.closed import ClosedValues
from ticksmith.store.bars import served

Columns = dict[str, npt.NDArray[np.generic]]
INTERVAL_COLUMN = "interval_ms"
READY_COLUMN = "ready"


class Forming(Protocol):
    """What the API reads for bars in progress; None for a symbol not held here."""

    def read(self, symbol: str, intervals_ms: Sequence[int]) -> dict[int, ClosedValues] | None: ...


def columns(found: Mapping[int, ClosedValues]) -> tuple[Columns, Columns]:
    """The rows as columns (interval, start, the bar's fields, every indicator),
    and per spec label the ready flags aligned with them."""
    parts = list(found.values())
    bars = np.concatenate([part.bars for part in parts])
    lengths = [len(part.bars) for part in parts]
    interval = np.repeat(np.array(list(found), np.int64), lengths)
    first = parts[0]
    values = {c: np.concatenate([p.values[c] for p in parts]) for c in first.values}
    ready = {k: np.concatenate([p.ready[k] for p in parts]) for k in first.ready}
    bar = {INTERVAL_COLUMN: interval, START_COLUMN: bars[START.name], **served(bars)}
    return bar | values, ready


def json_rows(rows: list[dict[str, Any]], ready: Columns) -> list[dict[str, Any]]:
    """`rows` (one object per row) with each row's ready flags as an object."""
    labels = list(ready)
    per_row = zip(*(column.tolist() for column in ready.values()), strict=True)
    flags = [dict(zip(labels, f, strict=True)) for f in per_row] if labels else [{}] * len(rows)
    return [row | {READY_COLUMN: f} for row, f in zip(rows, flags, strict=True)]


def arrow_columns(columns: Columns, ready: Columns) -> dict[str, Any]:
    """The columns with the ready flags as one struct column, as Arrow takes them."""
    labels = list(ready)
    flags = [pa.array(column) for column in ready.values()]
    if not labels:
        return dict(columns)
    return columns | {READY_COLUMN: pa.StructArray.from_arrays(flags, names=labels)}
