"""The incremental path (IndicatorEngine) equals the backfill bit for bit."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from tests.unit.indicators.feed import lockstep
from tests.unit.indicators.series import SERIES
from tests.unit.indicators.specs import SPECS, label
from ticksmith.indicators import BarColumns, IndicatorEngine, IndicatorSpec, phase_of

LENGTH = 2_600  # several blocks of every window in SPECS


@pytest.fixture(scope="module")
def universe() -> dict[str, BarColumns]:
    return {
        f"{kind}-{seed}": make(LENGTH, seed) for kind, make in SERIES.items() for seed in (1, 2)
    }


@pytest.mark.parametrize("spec", SPECS, ids=label)
def test_incremental_equals_backfill(spec: IndicatorSpec, universe: dict[str, BarColumns]) -> None:
    symbols = list(universe)
    engine = IndicatorEngine([spec], capacity=2)
    got = lockstep(engine, symbols, list(universe.values()))
    for i, symbol in enumerate(symbols):
        want = spec.backfill(universe[symbol], phase_of(symbol))
        for column in spec.columns:
            np.testing.assert_array_equal(got[column][i], want[column], err_msg=symbol)


def test_unstaggered_engine_equals_backfill_at_phase_zero(universe: dict[str, BarColumns]) -> None:
    symbols = list(universe)[:4]
    engine = IndicatorEngine(SPECS, staggered=False)
    got = lockstep(engine, symbols, [universe[s].take(np.arange(700)) for s in symbols])
    for i, symbol in enumerate(symbols):
        for spec in SPECS:
            want = spec.backfill(universe[symbol].take(np.arange(700)))
            for column in spec.columns:
                np.testing.assert_array_equal(got[column][i], want[column], err_msg=symbol)


class Feed:
    """Symbols that close 0-3 bars per batch, interleaved, joining late, some
    dropped (as on a revoked partition) and re-added later from scratch."""

    def __init__(self, universe: dict[str, BarColumns], seed: int) -> None:
        self.universe = universe
        self.rng = np.random.default_rng(seed)
        self.next = dict.fromkeys(universe, 0)
        self.since: dict[str, int] = {}  # first bar the engine has seen since (re)start
        self.seen: dict[str, list[dict[str, np.ndarray]]] = defaultdict(list)

    def batch(self) -> list[tuple[str, int]]:
        slots: list[str] = []
        for symbol, start in self.next.items():
            if start < len(self.universe[symbol]) and self.rng.random() < 0.7:
                k = min(int(self.rng.integers(1, 4)), len(self.universe[symbol]) - start)
                slots += [symbol] * k
        self.rng.shuffle(slots)
        order: list[tuple[str, int]] = []
        for symbol in slots:  # interleaved across symbols, in order within one
            order.append((symbol, self.next[symbol]))
            self.next[symbol] += 1
        return order

    def done(self) -> bool:
        return all(self.next[s] == len(b) for s, b in self.universe.items())

    def run(self, engine: IndicatorEngine) -> None:
        while not self.done():
            order = self.batch()
            symbols = [s for s, _ in order]
            for s, i in order:
                self.since.setdefault(s, i)
            rows = engine.rows(symbols)
            bars = BarColumns.concat([self.universe[s].take(np.array([i])) for s, i in order])
            out = engine.update(rows, bars)
            for k, symbol in enumerate(symbols):
                self.seen[symbol].append({c: v[k : k + 1] for c, v in out.items()})
            self.maybe_drop(engine)

    def maybe_drop(self, engine: IndicatorEngine) -> None:
        if self.rng.random() < 0.01:
            symbol = str(self.rng.choice(list(self.since)))
            engine.drop([symbol])
            del self.since[symbol]
            self.seen[symbol].clear()

    def reported(self, symbol: str, column: str) -> np.ndarray:
        return np.concatenate([step[column] for step in self.seen[symbol]])


def test_irregular_batches_of_many_symbols_equal_per_symbol_backfill(
    universe: dict[str, BarColumns],
) -> None:
    specs = SPECS
    short = {s: b.take(np.arange(700 + 200 * (k % 2))) for k, (s, b) in enumerate(universe.items())}
    feed = Feed(short, seed=5)
    engine = IndicatorEngine(specs, capacity=2)
    feed.run(engine)
    assert len(engine) == len(feed.since)
    assert any(start > 0 for start in feed.since.values()), "no symbol was dropped and re-added"
    for symbol, start in feed.since.items():
        bars = short[symbol].take(np.arange(start, len(short[symbol])))
        for spec in specs:
            want = spec.backfill(bars, engine.phase_of(symbol))
            for column in spec.columns:
                got = feed.reported(symbol, column)
                np.testing.assert_array_equal(got, want[column], err_msg=f"{symbol} {column}")
