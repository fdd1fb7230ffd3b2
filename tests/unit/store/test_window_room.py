"""The tick window widened before a step, off the event loop (Store.window_room, then
Store.adopt), holds what it should: every symbol's newest ticks, in order, as does
widening inside ``apply``; a copy made before the window changed is never put in place."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.store.test_store import make_ticks, to_batch
from ticksmith.store.groups import Groups
from ticksmith.store.store import Store
from ticksmith.store.tick_window import TickWindow


def kept(store: Store) -> dict[str, list[int]]:
    return {s: store.ticks(s)["ts_ns"].tolist() for s in store.symbols()}


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    cuts=st.lists(st.integers(1, 400), min_size=1, max_size=6),
    symbols=st.sampled_from([4, 150]),  # 150: more than the window's first 64 rows
)
def test_widening_before_each_step_keeps_the_same_ticks(
    seed: int, cuts: list[int], symbols: int
) -> None:
    ticks = make_ticks(seed, 1_200, symbols)
    inline = Store([1], history_bars=50, ticks_per_symbol=256)
    ahead = Store([1], history_bars=50, ticks_per_symbol=256)
    widened = 0
    ends = np.cumsum(cuts).tolist()
    for lo, hi in zip([0, *ends], [*ends, len(ticks)], strict=True):
        batch = to_batch(ticks.iloc[lo:hi])
        if not len(batch):
            continue
        if (widen := ahead.window_room(batch)) is not None:
            wider = widen()
            assert wider is not None
            ahead.window.adopt(wider)
            assert ahead.window_room(batch) is None  # room made: apply copies nothing
            widened += 1
        inline.apply(batch)
        ahead.apply(batch)
    newest = {s: t["ts"].tolist()[-256:] for s, t in ticks.groupby("symbol")}
    assert kept(ahead) == kept(inline) == newest
    assert widened  # 1,200 ticks outgrow the first width of 16 (or 150 symbols 64 rows)


def test_a_step_that_fits_needs_no_copy() -> None:
    store = Store([1], history_bars=50, ticks_per_symbol=256)
    store.apply(to_batch(make_ticks(1, 8, 2)))
    assert store.window_room(to_batch(make_ticks(2, 4, 2))) is None


def test_a_copy_made_before_the_window_changed_is_not_put_in_place() -> None:
    window = TickWindow(64, rows=2, width=2)
    stamp = np.arange(4, dtype=np.int64)

    def append(slot: int, at: int) -> None:
        columns = {"ts_ns": stamp + at, "price": stamp * 1.0, "size": stamp * 1.0}
        slots = np.full(4, slot, dtype=np.intp)
        window.append(Groups.of(slots, 2), {**columns, "side": np.zeros(4, np.int8)})

    copy = window.widened(8)
    assert copy is not None and copy.width == 8
    append(0, 100)  # the window widens itself, and changes
    window.adopt(copy)  # stale: ignored
    assert window.rows_of(0)["ts_ns"].tolist() == [100, 101, 102, 103]
    fresh = window.widened(16)
    assert fresh is not None
    window.adopt(fresh)
    assert window.width == 16
    append(0, 200)
    assert window.rows_of(0)["ts_ns"].tolist() == [100, 101, 102, 103, 200, 201, 202, 203]


def test_new_symbols_at_full_width_get_their_rows_before_the_step() -> None:
    """At full width, a step bringing more symbols than the window has rows gets a
    copy with more rows from window_room (made off the loop), so apply copies none."""
    store = Store([1], history_bars=50, ticks_per_symbol=16)
    store.apply(to_batch(make_ticks(1, 400, 4)))  # 100 ticks a symbol: full width
    newcomers = to_batch(make_ticks(2, 2_000, 200))  # S0-S199: 196 new, past 64 rows
    widen = store.window_room(newcomers)
    assert widen is not None
    wider = widen()
    assert wider is not None and wider.width == 16 and len(wider.total) >= 200
    store.window.adopt(wider)
    assert store.window_room(newcomers) is None
    columns = store._ticks._cols
    store.apply(newcomers)
    assert store._ticks._cols is columns  # no copy on the loop
    assert len(store.symbols()) == 200
