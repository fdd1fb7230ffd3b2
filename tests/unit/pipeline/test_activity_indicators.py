"""Indicators on activity bars: the worker's engine for an activity set, fed a
step at a time as the service feeds it, gives what TA-Lib gives over those bars."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from tests.unit.indicators.oracles import assert_close
from tests.unit.indicators.specs import SPECS, label
from tests.unit.store.test_activity import random_ticks
from tests.unit.store.test_store import to_batch
from ticksmith.bar import ActivitySet
from ticksmith.indicators import IndicatorSpec
from ticksmith.indicators.columns import BarColumns
from ticksmith.metrics import Metrics
from ticksmith.pipeline.indicator_worker import IndicatorWorker
from ticksmith.store.store import Store

SETS = (ActivitySet("ticks", 4), ActivitySet("volume", 900.0), ActivitySet("dollars", 60_000.0))


@pytest.mark.parametrize("bar_set", SETS, ids=lambda s: s.label)
@pytest.mark.parametrize("spec", SPECS, ids=label)
def test_indicators_on_activity_bars_match_talib(spec: IndicatorSpec, bar_set: ActivitySet) -> None:
    store = Store([1], 100_000, 64, activity=[bar_set], activity_anchor_ms=5)
    worker = IndicatorWorker([spec], store.bar_keys, Metrics(CollectorRegistry()))
    ticks = random_ticks(17, 12_000, 2)
    walk = np.random.default_rng(5).standard_normal(len(ticks)).cumsum()
    ticks["price"] = np.round(100 * np.exp(walk / 200), 2)  # positive, for log returns
    got: dict[str, list[dict[str, np.ndarray]]] = {}
    for lo in range(0, len(ticks), 700):  # steps, as a batch is applied
        result = store.apply(to_batch(ticks.iloc[lo : lo + 700]))
        values = worker.update(result.closed, result.evicted)[bar_set.label]
        ends = np.cumsum(values.counts)
        for symbol, n, end in zip(values.symbols, values.counts, ends, strict=True):
            got.setdefault(symbol, []).append(
                {c: v[end - n : end] for c, v in values.values.items()}
            )
    for symbol in store.symbols():
        bars = store.bars(symbol, bar_set.label)
        assert len(bars) > spec.lookback + 20  # past the warm-up, so values are compared
        actual = {c: np.concatenate([part[c] for part in got[symbol]]) for c in spec.columns}
        assert_close(spec, BarColumns.from_records(bars), actual)
