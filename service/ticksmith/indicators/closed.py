"""The indicator worker's output as value types: one interval's closed bars with
their indicator columns. Here, not with the worker in ``pipeline/``, because the
output and the cache read them and the pipeline imports the output."""

from __future__ import annotations

from dataclasses import dataclass

from ticksmith.bar import BarKey
from ticksmith.indicators.columns import Bools, Floats, Ints
from ticksmith.store.bars import Bars


@dataclass(frozen=True, slots=True)
class ClosedValues:
    """One interval's closed bars with their indicator outputs, as columns.

    ``bars`` is the symbols' closed bars end to end: ``symbols`` in order,
    ``counts[i]`` bars each, oldest first. Every indicator column (one value per
    bar) and, per spec, whether each bar is past its warm-up (TA-Lib's
    lookback) are aligned with ``bars``: columns, so the output path works on
    whole arrays instead of one small dict per symbol.
    """

    symbols: list[str]
    counts: Ints
    bars: Bars
    values: dict[str, Floats]
    ready: dict[str, Bools]


# What one batch closed, per bar set: interval_ms (or an activity set's label) -> its values.
ClosedByInterval = dict[BarKey, ClosedValues]
