"""IndicatorEngine: symbols to rows, growth, dropping, ready flags, store bars."""

from __future__ import annotations

import numpy as np

from tests.unit.indicators.series import random_walk
from tests.unit.indicators.specs import SPECS as ALL_SPECS
from ticksmith.indicators import BarColumns, IndicatorEngine, IndicatorSpec, parse_specs
from ticksmith.indicators.engine import occurrence
from ticksmith.store.bars import BAR_DTYPE

SPECS = parse_specs({"sma": [{"period": 3}], "macd": [{"fast": 2, "slow": 4, "signal": 2}]})


def one_bar(bars: BarColumns, i: int) -> BarColumns:
    return bars.take(np.array([i]))


def test_occurrence_counts_earlier_copies_of_each_row() -> None:
    rows = np.array([5, 1, 5, 5, 2, 1], dtype=np.intp)
    np.testing.assert_array_equal(occurrence(rows), [0, 0, 1, 2, 0, 1])


def test_rows_are_stable_and_freed_rows_are_reused() -> None:
    engine = IndicatorEngine(SPECS, capacity=1)
    a, b, c = engine.rows(["A", "B", "C"])
    assert list(engine.rows(["C", "A"])) == [c, a]
    engine.drop(["B", "nobody"])
    assert len(engine) == 2
    assert engine.rows(["D"])[0] == b


def test_a_dropped_symbol_restarts_from_scratch() -> None:
    bars = random_walk(40, seed=1)
    engine = IndicatorEngine(SPECS, capacity=2)
    for i in range(20):
        engine.update(engine.rows(["A", "B"]), BarColumns.concat([one_bar(bars, i)] * 2))
    engine.drop(["A"])
    fresh = IndicatorEngine(SPECS)
    for i in range(20, 40):
        rows = engine.rows(["A", "B", "C"])
        got = engine.update(rows, BarColumns.concat([one_bar(bars, i)] * 3))
        want = fresh.update(fresh.rows(["A"]), one_bar(bars, i))
        for column in engine.columns:
            np.testing.assert_array_equal(got[column][[0]], want[column])


def test_ready_turns_true_after_the_lookback() -> None:
    bars = random_walk(10, seed=2)
    engine = IndicatorEngine(SPECS)
    rows = engine.rows(["A"])
    flags = []
    for i in range(10):
        engine.update(rows, one_bar(bars, i))
        flags.append(engine.ready(rows))
    assert [f["sma_3"][0] for f in flags] == [False] * 2 + [True] * 8
    assert [f["macd_2_4_2"][0] for f in flags] == [False] * 4 + [True] * 6  # lookback 3 + 1


def test_several_bars_of_one_symbol_in_a_batch_apply_in_order() -> None:
    bars = random_walk(30, seed=3)
    batched, single = IndicatorEngine(SPECS), IndicatorEngine(SPECS)
    rows = batched.rows(["A"] * 30)
    got = batched.update(rows, bars)
    want = [single.update(single.rows(["A"]), one_bar(bars, i)) for i in range(30)]
    for column in batched.columns:
        np.testing.assert_array_equal(got[column], np.concatenate([w[column] for w in want]))


def test_update_closed_reads_the_store_bars() -> None:
    bars = random_walk(12, seed=4)
    records = np.zeros(12, dtype=BAR_DTYPE)
    for field in ("open", "high", "low", "close", "volume"):
        records[field] = getattr(bars, field)
    records["notional"] = np.where(bars.volume > 0, bars.vwap * bars.volume, 0.0)
    engine = IndicatorEngine(parse_specs({"vwap": [{"period": 4}], "obv": [{}]}))
    out = engine.update_closed({"X": records[:5], "Y": records[:3]})
    out |= {"X2": engine.update_closed({"X": records[5:]})["X"]}
    bars = BarColumns.from_records(records)
    want = IndicatorSpec.of("vwap", period=4).backfill(bars, engine.phase_of("X"))
    got = np.concatenate([out["X"]["vwap_4"], out["X2"]["vwap_4"]])
    np.testing.assert_array_equal(got, want["vwap_4"])
    assert len(out["Y"]["obv"]) == 3 and engine.update_closed({}) == {}


def test_a_peek_is_what_update_returns_next_and_changes_nothing() -> None:
    """Every tested parameter set (long windows cross several blocks), peeked at
    every bar while another symbol shares the states."""
    bars = random_walk(450, seed=9)
    engine, plain = IndicatorEngine(ALL_SPECS, capacity=1), IndicatorEngine(ALL_SPECS, capacity=1)
    for i in range(len(bars) - 1):
        peeked = engine.peek("A", bars.take(np.array([i, i + 1])))
        got = engine.update(engine.rows(["B", "A"]), BarColumns.concat([one_bar(bars, i)] * 2))
        want = plain.update(plain.rows(["A"]), one_bar(bars, i))
        for column in engine.columns:
            assert got[column][1:].tobytes() == want[column].tobytes(), column
            assert peeked[column][:1].tobytes() == want[column].tobytes(), column
