"""The reorder buffer releases exactly the ticks a plain scan would, in the same
order, however adds, releases and dropped slots interleave (it skips the scan
when no slot is due, and compacts a growable buffer in place)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ticksmith.store.bars import segment
from ticksmith.store.pending import Pending

FINE = 10
SLOTS = 6
EPOCH = 1_732_459_200_000_000_001  # event times in ns since the epoch: not exact as floats


Tick = tuple[int, int, float, float]


def naive_release(
    held: list[Tick], closed_before: np.ndarray, arriving: list[Tick]
) -> tuple[list[Tick], list[Tick]]:
    """Released ticks, then the arriving ones, sorted by (slot, bar start, ts),
    stably; and those kept."""
    out = [t for t in held if t[1] - t[1] % FINE < int(closed_before[t[0]])] + arriving
    kept = [t for t in held if not t[1] - t[1] % FINE < int(closed_before[t[0]])]
    out.sort(key=lambda t: (t[0], t[1] - t[1] % FINE, t[1]))
    return out, kept


Op = tuple[str, int, list[int]]
OPS = st.lists(
    st.tuples(
        st.sampled_from(["add", "add", "release", "drop"]),
        st.integers(0, 2**31),
        st.lists(st.integers(0, 200), min_size=0, max_size=30),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(ops=OPS)
def test_releases_what_a_plain_scan_releases(ops: list[Op]) -> None:
    pending, model = Pending(), []
    for op, seed, values in ops:
        rng = np.random.default_rng(seed)
        if op == "add" and values:
            slot = rng.integers(0, SLOTS, len(values)).astype(np.intp)
            ts = EPOCH + np.array(values, np.int64)
            price, size = rng.random(len(values)), rng.random(len(values))
            pending.add(slot, ts, price, size, FINE)
            model += list(
                zip(slot.tolist(), ts.tolist(), price.tolist(), size.tolist(), strict=True)
            )
        elif op == "release":
            closed_before = EPOCH + rng.integers(0, 220, SLOTS + int(rng.integers(0, 3)))
            k = len(values) // 3  # some ticks arrive with their bar closed already
            arriving = (
                rng.integers(0, SLOTS, k).astype(np.intp),
                EPOCH + 300 + np.array(values[:k], np.int64),
                rng.random(k),
                rng.random(k),
            )
            slot, ts, price, size = pending.release(FINE, closed_before, arriving if k else None)
            came = list(zip(*(a.tolist() for a in arriving), strict=True))
            want, model = naive_release(model, closed_before, came)
            got = list(zip(slot.tolist(), ts.tolist(), price.tolist(), size.tolist(), strict=True))
            assert got == want
        elif op == "drop":
            gone = np.array([seed % SLOTS], np.intp)
            pending.drop_slots(gone, FINE)
            model = [t for t in model if t[0] != gone[0]]
        assert len(pending) == len(model)
        assert sorted(zip(pending.slot.tolist(), pending.ts.tolist(), strict=True)) == sorted(
            (t[0], t[1]) for t in model
        )


@settings(max_examples=300, deadline=None)
@given(ops=OPS, in_order=st.booleans())
def test_release_bars_makes_the_bars_of_what_release_returns_bit_for_bit(
    ops: list[Op], in_order: bool
) -> None:
    """`in_order`: ticks come in time order (the path that never sorts); otherwise
    mostly not (the sorting path)."""
    ticks, bars = Pending(), Pending()
    for op, seed, values in ops:
        rng = np.random.default_rng(seed)
        if op == "add" and values:
            slot = rng.integers(0, SLOTS, len(values)).astype(np.intp)
            dense = [v % 60 for v in values]  # a few ticks per slot and bar: some out of order
            ts = EPOCH + np.array(sorted(dense) if in_order else dense, np.int64)
            price, size = rng.random(len(values)), rng.random(len(values)) * 1e3
            for pending in (ticks, bars):
                pending.add(slot, ts, price, size, FINE)
        elif op == "release":
            closed_before = EPOCH + rng.integers(0, 70, SLOTS + int(rng.integers(0, 3)))
            k = len(values) // 3
            late = np.array(sorted(values[:k]) if in_order else values[:k], np.int64)
            arriving = (
                rng.integers(0, SLOTS, k).astype(np.intp),
                EPOCH + 300 + late,
                rng.random(k),
                rng.random(k),
            )
            slot, ts, price, size = ticks.release(FINE, closed_before, arriving if k else None)
            want = segment(slot, ts - ts % FINE, price, size)
            got = bars.release_bars(FINE, closed_before, arriving if k else None)
            assert got.code.tolist() == want.code.tolist()
            assert got.bars.tobytes() == want.bars.tobytes()
        elif op == "drop":
            for pending in (ticks, bars):
                pending.drop_slots(np.array([seed % SLOTS], np.intp), FINE)
        assert bars.slot.tolist() == ticks.slot.tolist()
        assert bars.ts.tolist() == ticks.ts.tolist()
