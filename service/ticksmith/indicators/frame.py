"""A symbol's indicator frame: its closed bars plus every configured indicator,
computed by the backfill path (the cache recomputes it when a bar closes)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ticksmith.indicators.columns import BarColumns, Floats
from ticksmith.indicators.spec import IndicatorSpec


def indicator_frame(
    bars: pd.DataFrame, specs: Sequence[IndicatorSpec], phase: int = 0
) -> pd.DataFrame:
    """`bars` (open, high, low, close, volume, vwap, count; oldest first) with
    one column per indicator output, NaN over each warm-up. `phase`: see
    ``IndicatorSpec.backfill``."""
    columns = BarColumns.from_frame(bars)
    values: dict[str, Floats] = {}
    for spec in specs:
        values |= spec.backfill(columns, phase)
    return bars.assign(**values)
