"""Bars in progress with their indicator values: what the worker publishes when
the bar closes with no further tick, bit for bit, and reading them changes nothing."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from ticksmith.indicators.closed import ClosedValues
from ticksmith.indicators.spec import parse_specs
from ticksmith.metrics import Metrics
from ticksmith.pipeline.forming import FormingReader
from ticksmith.pipeline.indicator_worker import IndicatorWorker
from ticksmith.produce.market import tick_batch
from ticksmith.store.store import Store
from ticksmith.ticks import TickBatch

MS = 1_000_000  # ns
INTERVALS_MS = (1, 4)
SPECS = parse_specs(
    {
        "sma": [{"period": 3}],
        "ema": [{"period": 3}],
        "wma": [{"period": 4}],
        "rsi": [{"period": 2}],
        "macd": [{"fast": 2, "slow": 3, "signal": 2}],
        "bbands": [{"period": 3}],
        "atr": [{"period": 2}],
        "stoch": [{"fastk": 3, "slowk": 2, "slowd": 2}],
        "obv": [{}],
        "vwap": [{"period": 3}],
        "rvol": [{"period": 3, "ddof": 1}],
    }
)
SYMBOLS = ("A", "B", "C")

# (symbol, step in event time (a negative one may make a late tick), price, size)
Tick = tuple[int, int, float, float]
ticks_strategy = st.lists(
    st.tuples(
        st.integers(0, len(SYMBOLS) - 1),
        st.integers(-MS, 3 * MS),
        st.floats(1.0, 1_000.0),
        st.floats(0.0, 500.0),
    ),
    min_size=1,
    max_size=200,
)


class Pipeline:
    """A store and an indicator worker advanced as the service's batches do."""

    def __init__(self) -> None:
        self.store = Store(INTERVALS_MS, history_bars=1_000, ticks_per_symbol=16)
        self.worker = IndicatorWorker(SPECS, INTERVALS_MS, Metrics(CollectorRegistry()))
        self.forming = FormingReader(self.store, self.worker)

    def apply(self, batch: TickBatch) -> dict[int | str, ClosedValues]:
        result = self.store.apply(batch)
        return self.worker.update(result.closed, result.evicted)


def batch(ticks: list[Tick]) -> TickBatch:
    ts = np.maximum(np.cumsum([t[1] for t in ticks]), 0)
    n = len(ticks)
    return tick_batch(
        symbol=np.array([SYMBOLS[t[0]] for t in ticks], dtype=object),
        ts_ns=ts.astype(np.int64),
        price=np.array([t[2] for t in ticks]),
        size=np.array([t[3] for t in ticks]),
        side=np.zeros(n, np.int8),
        partition=np.zeros(n, np.int32),
        offset=np.arange(n, dtype=np.int64),
    )


def closing_tick(symbol: str, after_ns: int) -> TickBatch:
    """One tick at `after_ns`: it closes every bar of `symbol` that ends by then."""
    one = np.ones(1)
    return tick_batch(
        np.array([symbol], dtype=object), np.array([after_ns], np.int64), 100 * one, one,
        np.zeros(1, np.int8), np.zeros(1, np.int32), np.zeros(1, np.int64),
    )  # fmt: skip


def of_symbol(closed: ClosedValues, symbol: str) -> ClosedValues:
    """One symbol's part of an interval's closed bars."""
    i = closed.symbols.index(symbol)
    end = int(closed.counts[: i + 1].sum())
    at = slice(end - int(closed.counts[i]), end)
    return ClosedValues(
        [symbol], closed.counts[i : i + 1], closed.bars[at],
        {c: v[at] for c, v in closed.values.items()}, {k: v[at] for k, v in closed.ready.items()},
    )  # fmt: skip


def assert_same(got: ClosedValues, want: ClosedValues) -> None:
    """Equal bit for bit: bars, every value (NaN where NaN) and every ready flag."""
    assert got.bars.tobytes() == want.bars.tobytes()
    assert list(got.values) == list(want.values)
    for column, values in want.values.items():
        assert got.values[column].tobytes() == values.tobytes(), column
    for label, flags in want.ready.items():
        assert got.ready[label].tolist() == flags.tolist(), label


@settings(max_examples=80, deadline=None)
@given(ticks=ticks_strategy, cut=st.integers(0, 200))
def test_the_forming_bar_peeks_what_the_worker_publishes_when_it_closes(
    ticks: list[Tick], cut: int
) -> None:
    pipeline, whole = Pipeline(), batch(ticks)
    pipeline.apply(whole.take(np.arange(min(cut, len(ticks)))))
    pipeline.apply(whole.take(np.arange(min(cut, len(ticks)), len(ticks))))
    for symbol in pipeline.store.symbols():
        peeked = pipeline.forming.read(symbol, INTERVALS_MS)
        assert peeked is not None
        coarse = peeked[INTERVALS_MS[-1]].bars
        end = int(coarse["start_ns"][-1]) + INTERVALS_MS[-1] * MS
        closed = pipeline.apply(closing_tick(symbol, end))
        for ms in INTERVALS_MS:
            assert len(peeked[ms].bars) == 1  # lateness 0: one bar in progress
            assert_same(of_symbol(closed[ms], symbol), peeked[ms])


@settings(max_examples=60, deadline=None)
@given(ticks=ticks_strategy, cuts=st.lists(st.integers(0, 200), max_size=6))
def test_peeking_changes_nothing(ticks: list[Tick], cuts: list[int]) -> None:
    peeking, plain = Pipeline(), Pipeline()
    edges = sorted({0, len(ticks), *(c for c in cuts if c < len(ticks))})
    whole = batch(ticks)
    for lo, hi in itertools.pairwise(edges):
        part = whole.take(np.arange(lo, hi))
        for symbol in (*SYMBOLS, "NOPE"):
            if peeking.store.get(symbol) is None:
                assert peeking.forming.read(symbol, INTERVALS_MS) is None
            else:
                peeking.forming.read(symbol, INTERVALS_MS)
        got, want = peeking.apply(part), plain.apply(part)
        assert list(got) == list(want)
        for ms, closed in want.items():
            for symbol in closed.symbols:
                assert_same(of_symbol(got[ms], symbol), of_symbol(closed, symbol))


def test_a_symbol_without_a_closed_bar_peeks_from_a_fresh_state() -> None:
    pipeline = Pipeline()
    pipeline.apply(closing_tick("A", 5 * MS // 2))
    peeked = pipeline.forming.read("A", INTERVALS_MS)
    assert peeked is not None
    closed = pipeline.apply(closing_tick("A", 8 * MS))
    for ms in INTERVALS_MS:
        assert_same(of_symbol(closed[ms], "A"), peeked[ms])
        ready = {label: flags.tolist() for label, flags in peeked[ms].ready.items()}
        assert ready == {spec.label: [spec.lookback == 0] for spec in SPECS}  # a first bar
