"""Every indicator's backfill equals TA-Lib's output, and the windowed ones
also equal an exact (``math.fsum``) computation (see oracles.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.indicators.oracles import EXACT, assert_close, expected
from tests.unit.indicators.series import AWKWARD, random_walk, regimes
from tests.unit.indicators.specs import SPECS, label
from ticksmith.indicators import IndicatorSpec

WINDOWED = [s for s in SPECS if s.name in EXACT]


@pytest.mark.parametrize("phase", [0, 7919])
@pytest.mark.parametrize("spec", SPECS, ids=label)
def test_random_walk_matches_talib(spec: IndicatorSpec, phase: int) -> None:
    bars = random_walk(12_000, seed=11)
    assert_close(spec, bars, spec.backfill(bars, phase))


@pytest.mark.parametrize("kind", AWKWARD)
@pytest.mark.parametrize("spec", SPECS, ids=label)
def test_awkward_series_match_talib(spec: IndicatorSpec, kind: str) -> None:
    bars = AWKWARD[kind](2_500, 5)
    assert_close(spec, bars, spec.backfill(bars))


@pytest.mark.parametrize("kind", [*AWKWARD, "random_walk"])
@pytest.mark.parametrize("spec", WINDOWED, ids=label)
def test_windowed_indicators_match_exact_sums(spec: IndicatorSpec, kind: str) -> None:
    bars = random_walk(2_500, 6) if kind == "random_walk" else AWKWARD[kind](2_500, 6)
    assert_close(spec, bars, spec.backfill(bars), exact=True)


@pytest.mark.parametrize("spec", SPECS, ids=label)
def test_regime_changes_and_a_spike(spec: IndicatorSpec) -> None:
    # After a x1e6 spike leaves the window, TA-Lib's running sums keep its
    # rounding error (~1e-16 of 1e8) and the level falls by decades, so for
    # the windowed indicators the reference is the exact sum. The re-seated
    # sums here carry no error past one window.
    bars = regimes(3_000, 8)
    assert_close(spec, bars, spec.backfill(bars), exact=spec.name in EXACT)


@pytest.mark.parametrize("spec", SPECS, ids=label)
def test_warm_up_is_talib_lookback(spec: IndicatorSpec) -> None:
    bars = random_walk(spec.lookback + 5, seed=3)
    for column, want in expected(spec, bars).items():
        assert np.isnan(want[: spec.lookback]).all() and not np.isnan(want[spec.lookback])
        got = spec.backfill(bars)[column]
        assert np.isnan(got[: spec.lookback]).all() and not np.isnan(got[spec.lookback])


@pytest.mark.parametrize("spec", SPECS, ids=label)
def test_history_shorter_than_lookback_is_all_nan(spec: IndicatorSpec) -> None:
    bars = random_walk(spec.lookback, seed=4)
    for values in spec.backfill(bars).values():
        assert len(values) == spec.lookback and np.isnan(values).all()
