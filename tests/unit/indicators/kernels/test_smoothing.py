"""The seeded smoothers: the compiled push equals the backfill (Python floats) bit for
bit, for EMA and Wilder steps, any rows in any order, and ``continued`` agrees."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ticksmith.indicators.kernels.smoothing import EmaStep, Seeded, WilderStep, seeded_series

ROWS = 6
inputs = st.lists(
    st.one_of(
        st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False),
        st.sampled_from([0.0, -0.0, 1.0, 100.3, 1e12]),
    ),
    min_size=ROWS,
    max_size=ROWS * 40,
).map(lambda v: np.array(v, dtype=np.float64))


@settings(max_examples=200, deadline=None)
@given(inputs, st.integers(1, 30), st.booleans(), st.integers(0, 2**32 - 1))
def test_the_compiled_push_equals_the_backfill(
    x: np.ndarray, period: int, wilder: bool, seed: int
) -> None:
    """Each input goes to a random row, pushed in random groups of unique rows; every
    row's outputs equal ``seeded_series`` of its own inputs, bit for bit."""
    step = WilderStep(period) if wilder else EmaStep(period)
    rng = np.random.default_rng(seed)
    owner = rng.integers(0, ROWS, len(x))
    state = Seeded(period, step, ROWS)
    got: list[list[float]] = [[] for _ in range(ROWS)]
    pending = list(range(len(x)))
    while pending:  # each push takes the next input of some rows, each row at most once
        rows: dict[int, int] = {}
        for i in pending:
            rows.setdefault(int(owner[i]), i)
        chosen = [i for i in rows.values() if rng.random() < 0.7] or [next(iter(rows.values()))]
        out = state.push(owner[chosen].astype(np.intp), x[chosen])
        for i, value in zip(chosen, out.tolist(), strict=True):
            got[owner[i]].append(value)
        pending = [i for i in pending if i not in set(chosen)]
    for row in range(ROWS):
        want = seeded_series(x[owner == row], period, step)
        assert np.array(got[row]).tobytes() == want.tobytes(), row


@settings(max_examples=100, deadline=None)
@given(inputs, st.integers(1, 20), st.booleans())
def test_continued_equals_pushing(x: np.ndarray, period: int, wilder: bool) -> None:
    """``continued`` from a seeded row returns what pushing the rest would, and
    leaves the state as it was."""
    if len(x) <= period:
        return
    step = WilderStep(period) if wilder else EmaStep(period)
    state = Seeded(period, step, 1)
    row = np.zeros(1, np.intp)
    for v in x[:period]:
        state.push(row, np.array([v]))
    peeked = state.continued(0, x[period:])
    pushed = [state.push(row, np.array([v]))[0] for v in x[period:]]
    assert peeked.tobytes() == np.array(pushed).tobytes()
