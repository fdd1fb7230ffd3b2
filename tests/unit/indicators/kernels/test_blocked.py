"""The two-block windowed statistics: each incremental class equals its
backfill twin bit for bit, and both equal an exact computation."""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.indicators.oracles import full_windows
from ticksmith.indicators.kernels.blocked import BlockedWindow
from ticksmith.indicators.kernels.extremes import RollingExtreme, rolling_extreme
from ticksmith.indicators.kernels.moments import WindowMoments, window_m2
from ticksmith.indicators.kernels.weighted import WeightedSum, weighted_sums
from ticksmith.indicators.kernels.window import WindowSum, window_sums

values = st.lists(
    st.one_of(
        st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False),
        st.sampled_from([0.0, 1.0, 100.3, 1e12, -1e12]),  # ties, flat runs, outliers
    ),
    max_size=120,
).map(lambda v: np.array(v, dtype=np.float64))
widths = st.integers(1, 17)


def incremental(
    make: Callable[[], BlockedWindow], x: np.ndarray, phase: int, rows: int = 3
) -> np.ndarray:
    """Push `x` into row 1 (at `phase`) of a state whose rows 0 and 2 get other
    inputs (at other phases)."""
    state = make()
    state.reset(np.arange(rows), np.array([phase + 5, phase, 3 * phase]))
    out = np.empty(len(x))
    for t, v in enumerate(x):
        got = state.push(np.arange(rows), np.array([v * 3 + 1, v, -v]))
        out[t] = got[1]
    return out


def exact_m2(w: np.ndarray) -> float:
    values = [Fraction(v) for v in w.tolist()]
    mean = sum(values, Fraction(0)) / len(values)
    return float(sum(((v - mean) ** 2 for v in values), Fraction(0)))


phases = st.integers(0, 2**32 - 1)


@settings(max_examples=200, deadline=None)
@given(values, widths, phases)
def test_window_sums(x: np.ndarray, width: int, phase: int) -> None:
    got = window_sums(x, width, phase)
    np.testing.assert_array_equal(incremental(lambda: WindowSum(width, 3), x, phase), got)
    want = full_windows(x, width, math.fsum)
    ok = ~np.isnan(want)
    # Relative to the window's own values, whatever came before it.
    scale = width * full_windows(x, width, lambda w: float(np.max(np.abs(w))))[ok]
    assert np.all(np.abs(got[ok] - want[ok]) <= 2 * width * 2**-52 * scale)


@settings(max_examples=200, deadline=None)
@given(values, widths, phases)
def test_weighted_sums(x: np.ndarray, width: int, phase: int) -> None:
    got = weighted_sums(x, width, phase)
    np.testing.assert_array_equal(incremental(lambda: WeightedSum(width, 3), x, phase), got)
    weights = np.arange(1.0, width + 1.0)
    want = full_windows(x, width, lambda w: math.fsum(w * weights))
    ok = ~np.isnan(want)
    scale = width * width * full_windows(x, width, lambda w: float(np.max(np.abs(w))))[ok]
    assert np.all(np.abs(got[ok] - want[ok]) <= 4 * width * 2**-52 * scale)


@settings(max_examples=200, deadline=None)
@given(values, widths, phases)
def test_window_m2(x: np.ndarray, width: int, phase: int) -> None:
    got = window_m2(x, width, phase)
    np.testing.assert_array_equal(incremental(lambda: WindowMoments(width, 3), x, phase), got)
    want = full_windows(x, width, exact_m2)
    ok = ~np.isnan(want)
    # Relative to the window's own spread, whatever the level or the outliers
    # that came before (each block part is summed shifted by one of its inputs).
    spread = full_windows(x, width, lambda w: float(np.ptp(w)))
    atol = 16 * width * width * 2**-52 * spread[ok] ** 2
    underflow = 1e-300  # squares of inputs under ~1e-154 lose their precision
    assert np.all(np.abs(got[ok] - want[ok]) <= atol + 1e-9 * want[ok] + underflow)


@settings(max_examples=200, deadline=None)
@given(values, widths, phases, st.sampled_from([np.maximum, np.minimum]))
def test_rolling_extremes(x: np.ndarray, width: int, phase: int, op: np.ufunc) -> None:
    got = rolling_extreme(op, x, width, phase)
    want = incremental(lambda: RollingExtreme(op, width, 3), x, phase)
    np.testing.assert_array_equal(want, got)
    partial = [op.reduce(x[max(0, t - width + 1) : t + 1]) for t in range(len(x))]
    np.testing.assert_array_equal(got, np.array(partial, dtype=np.float64))


def test_flat_window_has_zero_m2_after_an_outlier() -> None:
    x = np.r_[np.full(30, 100.3), 1e9, np.full(60, 0.1)]
    m2 = window_m2(x, 20)
    assert (m2[31 + 19 :] == 0.0).all()
    assert (m2[31:50] > 0).all()


def test_outlier_leaves_no_residue_in_sums() -> None:
    x = np.r_[np.full(25, 1.0), 1e15, np.full(80, 1.0)]
    sums = window_sums(x, 10)
    np.testing.assert_array_equal(sums[26 + 9 :], 10.0)


COMPILED = [
    (WindowSum, ("_suffix", "_prefix")),
    (WindowMoments, ("_s1", "_s2", "_s_shift", "_p1", "_p2", "_p_shift")),
]


@pytest.mark.parametrize(("kind", "arrays"), COMPILED, ids=["sum", "m2"])
@settings(max_examples=100, deadline=None)
@given(st.integers(1, 17), st.integers(0, 2**32 - 1), st.lists(values, min_size=1, max_size=8))
def test_the_compiled_push_equals_the_numpy_one(
    kind: type[BlockedWindow],
    arrays: tuple[str, ...],
    width: int,
    seed: int,
    pushes: list[np.ndarray],
) -> None:
    """A compiled push (WindowSum, WindowMoments) against BlockedWindow.push with the
    class's numpy _close and _window: outputs and state bit for bit, any unique rows
    in any order."""
    rng = np.random.default_rng(seed)
    compiled, reference = kind(width, 8), kind(width, 8)
    phases = rng.integers(0, 100, 8)
    for state in (compiled, reference):
        state.reset(np.arange(8), phases)
    for x in pushes:
        for chunk in np.array_split(x, max(1, len(x) // 8 + 1)):
            rows = rng.permutation(8)[: len(chunk)]
            got = compiled.push(rows, chunk)
            want = BlockedWindow.push(reference, rows, chunk)
            assert got.tobytes() == want.tobytes()
    for name in arrays:
        assert getattr(compiled, name).tobytes() == getattr(reference, name).tobytes()
    assert compiled._buffer.values.tobytes() == reference._buffer.values.tobytes()
