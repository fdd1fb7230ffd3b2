"""The indicator worker: columns aligned with the stacked closed bars, and each
bar's ready flags from the bars its symbol has had so far."""

from __future__ import annotations

import numpy as np
from prometheus_client import CollectorRegistry

from ticksmith.indicators.columns import stack
from ticksmith.indicators.spec import parse_specs
from ticksmith.metrics import Metrics
from ticksmith.pipeline.indicator_worker import IndicatorWorker
from ticksmith.store.bars import BAR_DTYPE, Bars

SPECS = parse_specs({"sma": [{"period": 3}], "ema": [{"period": 5}]})  # lookbacks 2 and 4


def bars(n: int, start: int = 0) -> Bars:
    rows = np.zeros(n, dtype=BAR_DTYPE)
    rows["start_ns"] = (start + np.arange(n)) * 1_000_000_000
    rows["close"] = rows["open"] = rows["high"] = rows["low"] = 100.0 + np.arange(n)
    rows["volume"] = rows["count"] = 1
    rows["notional"] = rows["close"]
    return rows


def worker() -> IndicatorWorker:
    return IndicatorWorker(SPECS, [1000, 60_000], Metrics(CollectorRegistry()))


def test_stack_joins_strided_parts_like_concatenate() -> None:
    parts = [bars(6)[::2], bars(3, 10), bars(0), bars(4)[::-1]]
    np.testing.assert_array_equal(stack(parts), np.concatenate(parts))
    assert stack([]).dtype == BAR_DTYPE and len(stack([])) == 0


def test_values_are_aligned_with_the_stacked_bars() -> None:
    closed = {"A": bars(2), "B": bars(3), "C": bars(1)}
    out = worker().update({1000: closed}, {})[1000]
    assert out.symbols == ["A", "B", "C"] and out.counts.tolist() == [2, 3, 1]
    np.testing.assert_array_equal(out.bars, np.concatenate(list(closed.values())))
    assert all(len(v) == 6 for v in [*out.values.values(), *out.ready.values()])
    np.testing.assert_array_equal(out.values["sma_3"][2:5], [np.nan, np.nan, 101.0])


def test_a_bar_is_ready_once_its_symbol_has_had_more_bars_than_the_lookback() -> None:
    w = worker()
    first = w.update({1000: {"A": bars(2), "B": bars(4)}, 60_000: {"A": bars(1)}}, {})
    second = w.update({1000: {"B": bars(1, 4), "A": bars(3, 2)}}, {})[1000]
    assert first[1000].ready["sma_3"].tolist() == [False, False, False, False, True, True]
    assert first[60_000].ready["sma_3"].tolist() == [False]
    assert second.ready["sma_3"].tolist() == [True, True, True, True]
    assert second.ready["ema_5"].tolist() == [True, False, False, True]


def test_a_dropped_symbol_starts_its_warm_up_again() -> None:
    w = worker()
    w.update({1000: {"A": bars(3)}}, {})
    w.drop(["A"])
    assert w.update({1000: {"A": bars(3, 3)}}, {})[1000].ready["sma_3"].tolist() == [
        False,
        False,
        True,
    ]


def test_an_interval_without_closed_bars_has_empty_columns() -> None:
    out = worker().update({1000: {}}, {})[1000]
    assert out.symbols == [] and len(out.bars) == 0
    assert all(len(v) == 0 for v in [*out.values.values(), *out.ready.values()])
