"""The reorder buffer releases, as bars, bit for bit the bars of the ticks a plain
scan would release, however adds, releases and dropped slots interleave (it skips
the scan when no slot is due, compacts a growable buffer in place, and adds each
tick to its bar as it leaves unless a slot's ticks are out of time order)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ticksmith.store.bars import Segments, segment
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


def bars_of(ticks: list[Tick]) -> Segments:
    slot, ts, price, size = (np.array(c) for c in zip(*ticks, strict=True))
    return segment(slot.astype(np.intp), ts - ts % FINE, price, size)


@settings(max_examples=300, deadline=None)
@given(ops=OPS, in_order=st.booleans())
def test_releases_the_bars_of_what_a_plain_scan_releases(ops: list[Op], in_order: bool) -> None:
    """`in_order`: each add's ticks come in time order (the pass that never sorts);
    otherwise mostly not (the sorting path). A few ticks per slot and bar, so that
    ticks of one bar arrive out of order."""
    pending, model = Pending(), []
    for op, seed, values in ops:
        rng = np.random.default_rng(seed)
        if op == "add" and values:
            dense = [v % 60 for v in values]
            slot = rng.integers(0, SLOTS, len(values)).astype(np.intp)
            ts = EPOCH + np.array(sorted(dense) if in_order else dense, np.int64)
            price, size = rng.random(len(values)), rng.random(len(values)) * 1e3
            pending.add(slot, ts, price, size, FINE)
            model += list(
                zip(slot.tolist(), ts.tolist(), price.tolist(), size.tolist(), strict=True)
            )
        elif op == "release":
            closed_before = EPOCH + rng.integers(0, 70, SLOTS + int(rng.integers(0, 3)))
            k = len(values) // 3  # some ticks arrive with their bar closed already
            late = np.array(sorted(values[:k]) if in_order else values[:k], np.int64)
            arriving = (
                rng.integers(0, SLOTS, k).astype(np.intp),
                EPOCH + 300 + late,
                rng.random(k),
                rng.random(k),
            )
            got = pending.release_bars(FINE, closed_before, arriving if k else None)
            came = list(zip(*(a.tolist() for a in arriving), strict=True))
            want, model = naive_release(model, closed_before, came)
            if want:
                expected = bars_of(want)
                assert got.code.tolist() == expected.code.tolist()
                assert got.bars.tobytes() == expected.bars.tobytes()
            else:
                assert len(got.bars) == 0
        elif op == "drop":
            gone = np.array([seed % SLOTS], np.intp)
            pending.drop_slots(gone, FINE)
            model = [t for t in model if t[0] != gone[0]]
        assert len(pending) == len(model)
        assert list(zip(pending.slot.tolist(), pending.ts.tolist(), strict=True)) == [
            (t[0], t[1]) for t in model
        ]


@settings(max_examples=300, deadline=None)
@given(ops=OPS)
def test_a_feed_in_time_order_releases_the_same_bars_from_running_bars(ops: list[Op]) -> None:
    """The service's usual case, in the store's order: ticks in time order; a step
    moves each slot's watermark to its newest tick, releases the bars that closed
    (with the step's ticks of those bars), then buffers the rest. Releases then
    come from the slots' running bars and leave the released ticks dead in the
    buffer until it compacts; the bars, the ticks kept and a slot's provisional
    ticks are those of a plain scan."""
    pending, model, now = Pending(), list[Tick](), EPOCH
    newest = np.full(SLOTS, EPOCH, np.int64)
    for op, seed, values in ops:
        rng = np.random.default_rng(seed)
        if op != "drop":
            ts = now + np.cumsum(np.array(values, np.int64) % 7)
            slot = rng.integers(0, SLOTS, len(values)).astype(np.intp)
            price, size = rng.random(len(values)), rng.random(len(values)) * 1e3
            np.maximum.at(newest, slot, ts)
            now = int(ts[-1]) if len(ts) else now
            closed_before = newest - newest % FINE  # a slot's newest bar is its forming one
            closed = ts - ts % FINE < closed_before[slot]
            columns = (slot.tolist(), ts.tolist(), price.tolist(), size.tolist())
            ticks = list(zip(*columns, strict=True))
            came = [t for t, c in zip(ticks, closed.tolist(), strict=True) if c]
            arriving = (slot[closed], ts[closed], price[closed], size[closed])
            got = pending.release_bars(FINE, closed_before, arriving if came else None)
            want, model = naive_release(model, closed_before, came)
            assert got.bars.tobytes() == (bars_of(want).bars.tobytes() if want else b"")
            assert got.code.tolist() == (bars_of(want).code.tolist() if want else [])
            later = ~closed
            pending.add(slot[later], ts[later], price[later], size[later], FINE)
            model += [t for t, c in zip(ticks, closed.tolist(), strict=True) if not c]
        else:
            pending.drop_slots(np.array([seed % SLOTS], np.intp), FINE)
            model = [t for t in model if t[0] != seed % SLOTS]
        assert list(zip(pending.slot.tolist(), pending.ts.tolist(), strict=True)) == [
            (t[0], t[1]) for t in model
        ]
        mine = seed % SLOTS
        assert pending.of_slot(mine)[0].tolist() == [t[1] for t in model if t[0] == mine]
