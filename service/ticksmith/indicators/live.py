"""The service's indicator worker: one incremental engine per bar interval, fed
with every batch's closed bars (live and in warm-up)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ticksmith.indicators.columns import Floats
from ticksmith.indicators.engine import IndicatorEngine
from ticksmith.indicators.spec import IndicatorSpec
from ticksmith.monitor.metrics import Metrics
from ticksmith.store.bars import Bars


@dataclass(frozen=True, slots=True)
class BarValues:
    """Indicator outputs for one symbol's closed bars (one value per bar per column),
    and per spec whether each bar is past its warm-up (TA-Lib's lookback)."""

    values: dict[str, Floats]
    ready: dict[str, np.ndarray]


Values = dict[int, dict[str, BarValues]]  # interval_ms -> symbol -> values


class IndicatorWorker:
    def __init__(
        self, specs: Sequence[IndicatorSpec], intervals_ms: Sequence[int], metrics: Metrics
    ) -> None:
        self.specs = tuple(specs)
        self._lookbacks = [(spec.label, spec.lookback) for spec in self.specs]  # once: costly
        self._engines = {ms: IndicatorEngine(self.specs) for ms in intervals_ms}
        self._seen: dict[tuple[int, str], int] = {}  # bars fed per (interval, symbol)
        self._metrics = metrics

    def update(self, closed: dict[int, dict[str, Bars]]) -> Values:
        """Advance every engine by its interval's closed bars; return their values."""
        started = time.perf_counter()
        out: Values = {}
        for ms, by_symbol in closed.items():
            values = self._engines[ms].update_closed(by_symbol)
            out[ms] = {s: self._with_ready(ms, s, v, len(by_symbol[s])) for s, v in values.items()}
        self._metrics.indicator_seconds.observe(time.perf_counter() - started)
        return out

    def drop(self, symbols: Iterable[str]) -> None:
        gone = set(symbols)
        for ms, engine in self._engines.items():
            engine.drop(gone)
            for symbol in gone:
                self._seen.pop((ms, symbol), None)

    def _with_ready(self, ms: int, symbol: str, values: dict[str, Floats], n: int) -> BarValues:
        before = self._seen.get((ms, symbol), 0)
        self._seen[(ms, symbol)] = before + n
        count = before + 1 + np.arange(n)
        return BarValues(values, {label: count > lookback for label, lookback in self._lookbacks})
