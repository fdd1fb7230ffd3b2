"""The tick window's next widening is made ahead, in a thread, once the busiest row
holds half the width; the widening then copies into those columns, and the window
holds the same ticks as without them."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tests.unit.pipeline.test_live_chunks import TP, Log, effects, fetched
from ticksmith.store import tick_window

pytestmark = pytest.mark.timeout(60)


async def test_a_widening_copies_into_the_columns_made_ahead() -> None:
    records = fetched(12_000)[TP]  # 20 symbols, ~600 ticks each
    e = effects(Log())
    window = e.store.window
    await e.live({TP: records[:6_000]}, set())
    width = window.width
    assert 2 * int(window.total.max()) >= width  # the busiest row holds half of it
    while e._spare is not None or window.spare_wanted() is not None:
        if e._spare is None:  # the one made during the batch fitted a width now past
            e._spare_ahead()
        assert e._spare is not None
        await e._spare  # being made in its thread
        await asyncio.sleep(0)  # its callback keeps it
    spare = window._spare
    assert spare is not None and spare.shape == (64, 2 * width)
    assert window.nbytes >= 64 * 3 * width * tick_window.ROW_BYTES  # the spare counts
    await e.live({TP: records[6_000:]}, set())
    assert window.width == 2 * width
    assert window._cols["ts_ns"] is spare.columns["ts_ns"]
    assert window._spare is not spare  # used up (a spare for the next may be made)
    ts = {s: e.store.ticks(s)["ts_ns"] for s in e.store.symbols()}
    assert sum(map(len, ts.values())) == 12_000 - len({150, 2_600, 4_100})  # all kept
    assert all(np.all(np.diff(t) > 0) for t in ts.values())


def test_no_columns_are_made_ahead_past_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    window = tick_window.TickWindow(1_024, rows=64, width=512)
    window.total[3] = 256
    assert window.spare_wanted() == (64, 1_024)
    window.total[3] = 255
    assert window.spare_wanted() is None  # not near
    window.total[3] = 300
    monkeypatch.setattr(tick_window, "SPARE_BYTES", 64 * 1_024 * tick_window.ROW_BYTES - 1)
    assert window.spare_wanted() is None


def test_columns_of_another_shape_are_not_kept_or_used() -> None:
    window = tick_window.TickWindow(1_024, rows=64, width=512)
    window.total[0] = 300
    window.keep_spare(tick_window.Spare.made((64, 512)))  # made for a width now past
    assert window._spare is None and window.spare_wanted() == (64, 1_024)
    window.keep_spare(tick_window.Spare.made((64, 1_024)))
    assert window.spare_wanted() is None
    window.ensure_rows(65)  # rows grow: the spare no longer fits, and is dropped
    wider = window.widened(600)
    assert wider is not None and wider.columns["ts_ns"].shape == (96, 1_024)
    assert window._spare is None
