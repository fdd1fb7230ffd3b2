"""Drive an IndicatorEngine bar by bar and collect what it reports per symbol."""

from __future__ import annotations

import numpy as np

from ticksmith.indicators import BarColumns, IndicatorEngine
from ticksmith.indicators.columns import FIELDS


def stacked(series: list[BarColumns]) -> dict[str, np.ndarray]:
    """Each field as a (symbol, bar) matrix; the series must have one length."""
    return {f: np.stack([getattr(s, f) for s in series]) for f in FIELDS}


def lockstep(
    engine: IndicatorEngine, symbols: list[str], series: list[BarColumns]
) -> dict[str, np.ndarray]:
    """Every symbol closes one bar per update. Returns column -> (symbol, bar)."""
    rows = engine.rows(symbols)
    fields = stacked(series)
    n = len(series[0])
    out = {c: np.empty((len(symbols), n)) for c in engine.columns}
    for t in range(n):
        step = engine.update(rows, BarColumns.of(**{f: v[:, t] for f, v in fields.items()}))
        for column, values in step.items():
            out[column][:, t] = values
    return out
