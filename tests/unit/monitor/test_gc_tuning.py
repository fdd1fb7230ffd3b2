from __future__ import annotations

import gc

from ticksmith.monitor.gc_tuning import tuned_gc


def test_start_up_objects_are_frozen_and_the_threshold_raised_then_restored() -> None:
    before = gc.get_threshold()
    marker = [object()]  # exists before: frozen
    with tuned_gc(freeze=True, threshold0=50_000):
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (50_000, *before[1:])
        assert not any(o is marker for o in gc.get_objects())  # frozen: not walked
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert any(o is marker for o in gc.get_objects())


def test_zero_and_false_leave_the_collector_alone() -> None:
    before = gc.get_threshold()
    with tuned_gc(freeze=False, threshold0=0):
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() == 0
