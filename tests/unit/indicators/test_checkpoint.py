"""The checkpoint rebuilds, from the bars a store still holds, exactly what the live
engine computed for them, however many bars the store has pushed out."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ticksmith.indicators.checkpoint import Checkpoint, context_bars
from ticksmith.indicators.columns import BarColumns
from ticksmith.indicators.engine import IndicatorEngine, phase_of
from ticksmith.indicators.registry import REGISTRY
from ticksmith.indicators.spec import IndicatorSpec, parse_specs
from ticksmith.store.bars import BAR_DTYPE, Bars

SPECS = (
    *parse_specs({name: [{}] for name in REGISTRY}),
    IndicatorSpec.of("sma", period=2),
    IndicatorSpec.of("stoch", fastk=3, slowk=2, slowd=4),
    IndicatorSpec.of("macd", fast=2, slow=3, signal=2),
    IndicatorSpec.of("rvol", period=7),
)
SYMBOLS = [f"S{i}" for i in range(6)]


def random_bars(n: int, rng: np.random.Generator) -> Bars:
    bars = np.zeros(n, BAR_DTYPE)
    close = 100 + rng.standard_normal(n).cumsum()
    bars["start_ns"] = np.arange(n)
    bars["close"] = close
    bars["open"] = close + rng.standard_normal(n) * 0.1
    bars["high"] = np.maximum(bars["open"], close) + rng.random(n)
    bars["low"] = np.minimum(bars["open"], close) - rng.random(n)
    bars["volume"] = rng.integers(1, 100, n)
    bars["notional"] = bars["volume"] * close
    bars["count"] = 1
    return bars


def test_context_is_the_longest_lookback_and_one() -> None:
    assert context_bars(SPECS) == max(s.lookback for s in SPECS) + 1 == 34


@settings(max_examples=25, deadline=None)
@given(history=st.sampled_from([1, 5, 33, 34, 35, 80]), seed=st.integers(0, 2**32 - 1))
def test_values_over_the_kept_bars_equal_the_live_engines_after_every_batch(
    history: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    n = 160
    series = {s: random_bars(n, rng) for s in SYMBOLS}
    live, checkpoint = IndicatorEngine(SPECS), Checkpoint(SPECS)
    published: dict[str, dict[str, list[float]]] = {
        s: {c: [] for c in live.columns} for s in SYMBOLS
    }
    closed_so_far = dict.fromkeys(SYMBOLS, 0)
    while min(closed_so_far.values()) < n:
        closed = {}  # batches of 0 to 45 bars per symbol, as a backlog delivers them
        for s in SYMBOLS:
            k = min(int(rng.integers(0, 46)), n - closed_so_far[s])
            if k:
                closed[s] = series[s][closed_so_far[s] : closed_so_far[s] + k]
        evicted = {}
        for s, values in live.update_closed(closed).items():
            for column, v in values.items():
                published[s][column] += v.tolist()
            before, after = closed_so_far[s], closed_so_far[s] + len(closed[s])
            closed_so_far[s] = after
            if max(0, after - history) > max(0, before - history):
                evicted[s] = series[s][max(0, before - history) : after - history]
        checkpoint.advance(evicted)
        for s in closed:
            end = closed_so_far[s]
            start = max(0, end - history)
            assert checkpoint.dropped(s) == start
            got = checkpoint.values(s, phase_of(s), series[s][start:end])
            for column in live.columns:
                want = np.array(published[s][column][start:end])
                np.testing.assert_array_equal(got[column], want, err_msg=f"{s} {column}")


def test_a_dropped_symbol_starts_again_from_nothing() -> None:
    rng = np.random.default_rng(0)
    checkpoint = Checkpoint(SPECS)
    checkpoint.advance({"A": random_bars(50, rng)})
    checkpoint.drop(["A"])
    checkpoint.advance({"B": random_bars(3, rng)})  # takes A's row
    assert (checkpoint.dropped("A"), checkpoint.dropped("B")) == (0, 3)


def test_resuming_before_the_warm_up_is_refused() -> None:
    engine = IndicatorEngine([IndicatorSpec.of("ema", period=5)])
    engine.update_closed({"A": random_bars(4, np.random.default_rng(1))})  # lookback 4
    later = BarColumns.from_records(random_bars(2, np.random.default_rng(2)))
    with pytest.raises(ValueError, match="warm-up"):
        engine.resume(int(engine.rows(["A"])[0]), later)
    engine.update_closed({"A": random_bars(1, np.random.default_rng(3))})
    assert len(engine.resume(int(engine.rows(["A"])[0]), later)["ema_5"]) == 2
