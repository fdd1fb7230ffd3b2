"""Property: for any indicator, parameters, bars and batching, the incremental
path reports exactly what the backfill computes."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.indicators.oracles import EXACT, assert_close
from tests.unit.indicators.series import from_closes
from ticksmith.indicators import BarColumns, IndicatorEngine, IndicatorSpec

PARAMS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "sma": {"period": st.integers(1, 12)},
    "ema": {"period": st.integers(1, 12)},
    "wma": {"period": st.integers(1, 12)},
    "rsi": {"period": st.integers(2, 12)},
    "macd": {"fast": st.integers(2, 5), "slow": st.integers(5, 9), "signal": st.integers(1, 5)},
    "bbands": {
        "period": st.integers(2, 12),
        "nbdevup": st.floats(0, 3),
        "nbdevdn": st.floats(0, 3),
    },
    "atr": {"period": st.integers(1, 12)},
    "stoch": {"fastk": st.integers(1, 8), "slowk": st.integers(1, 4), "slowd": st.integers(1, 4)},
    "obv": {},
    "vwap": {"period": st.integers(1, 12)},
    "rvol": {"period": st.integers(2, 12), "ddof": st.integers(0, 1)},
}

specs = st.sampled_from(sorted(PARAMS)).flatmap(
    lambda name: st.fixed_dictionaries(PARAMS[name]).map(lambda p: IndicatorSpec.of(name, **p))
)


@st.composite
def bar_series(draw: st.DrawFn) -> BarColumns:
    n = draw(st.integers(0, 80))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):  # prices on a tick grid: ties, flat runs, one-tick bars
        close = 10 + 0.5 * np.cumsum(rng.integers(-1, 2, n))
        close = np.maximum(close, 0.5)
    else:
        close = np.exp(np.cumsum(rng.standard_normal(n) * draw(st.sampled_from([1e-9, 1e-3, 1]))))
    bars = from_closes(close, rng, spread=draw(st.sampled_from([0.0, 1e-3])))
    quiet = draw(st.floats(0, 1))
    volume = np.where(rng.random(n) < quiet, 0.0, bars.volume)
    return BarColumns.of(
        **{f: getattr(bars, f) for f in ("open", "high", "low", "close")},
        volume=volume,
        vwap=np.where(volume > 0, bars.vwap, np.nan),
    )


names = st.lists(st.text(min_size=1, max_size=4), min_size=2, max_size=2, unique=True)


@settings(max_examples=300, deadline=None)
@given(specs, bar_series(), bar_series(), names, st.booleans(), st.data())
def test_incremental_equals_backfill(
    spec: IndicatorSpec,
    a: BarColumns,
    b: BarColumns,
    symbols: list[str],
    staggered: bool,
    data: st.DataObject,
) -> None:
    engine = IndicatorEngine([spec], capacity=1, staggered=staggered)
    series = dict(zip(symbols, (a, b), strict=True))
    reported: dict[str, list[np.ndarray]] = {s: [] for s in series}
    next_bar = dict.fromkeys(series, 0)
    while any(next_bar[s] < len(series[s]) for s in series):
        order: list[tuple[str, int]] = []
        for s in series:
            k = data.draw(st.integers(0, 3))
            take = range(next_bar[s], min(next_bar[s] + k, len(series[s])))
            order += [(s, i) for i in take]
            next_bar[s] += len(take)
        rows = engine.rows([s for s, _ in order])
        bars = BarColumns.concat([series[s].take(np.array([i])) for s, i in order])
        out = engine.update(rows, bars)
        for k, (s, _) in enumerate(order):
            reported[s].append(np.array([out[c][k] for c in spec.columns]))
    for s, bars in series.items():
        want = spec.backfill(bars, engine.phase_of(s))
        got = np.array(reported[s]).reshape(len(bars), len(spec.columns))
        for j, column in enumerate(spec.columns):
            np.testing.assert_array_equal(got[:, j], want[column])


@settings(max_examples=300, deadline=None)
@given(specs, bar_series())
def test_backfill_matches_the_oracles(spec: IndicatorSpec, bars: BarColumns) -> None:
    if len(bars) > 0:  # TA-Lib refuses empty input
        assert_close(spec, bars, spec.backfill(bars), exact=spec.name in EXACT)
