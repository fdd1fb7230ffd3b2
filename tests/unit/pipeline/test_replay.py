"""Where a newly assigned partition starts, for every kind of committed offset."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticksmith.pipeline.replay import plan


def test_a_committed_offset_resumes_there_after_a_lookback_replay() -> None:
    p = plan(500, 100, 900, reset="earliest", lookback_records=300)
    assert (p.seek, p.live_from, p.reset, p.cut_short) == (200, 500, None, True)


def test_the_lookback_stops_at_the_logs_beginning() -> None:
    p = plan(150, 100, 900, reset="earliest", lookback_records=300)
    assert (p.seek, p.live_from, p.cut_short) == (100, 150, False)


def test_the_longer_of_the_two_lookbacks_wins() -> None:
    p = plan(500, 100, 900, reset="earliest", lookback_records=50, lookback_start=300)
    assert p.seek == 300


@pytest.mark.parametrize(
    ("committed", "reset", "live_from", "why"),
    [
        (5_000, "earliest", 100, "past the end"),  # the topic was recreated
        (5_000, "latest", 900, "past the end"),
        (10, "earliest", 100, "before the start"),  # retention deleted it
        (10, "latest", 900, "before the start"),
        (None, "earliest", 100, None),  # a new group
        (None, "latest", 900, None),
    ],
)
def test_an_offset_outside_the_log_or_none_follows_auto_offset_reset(
    committed: int | None, reset: str, live_from: int, why: str | None
) -> None:
    p = plan(committed, 100, 900, reset=reset, lookback_records=300)  # type: ignore[arg-type]
    assert (p.live_from, p.reset) == (live_from, why)
    assert p.seek == max(100, live_from - 300)


@given(
    committed=st.none() | st.integers(-10, 2_000),
    beginning=st.integers(0, 1_000),
    length=st.integers(0, 1_000),
    lookback=st.integers(0, 3_000),
    reset=st.sampled_from(["earliest", "latest"]),
)
def test_a_plan_never_leaves_the_log_so_warm_up_always_ends(
    committed: int | None, beginning: int, length: int, lookback: int, reset: str
) -> None:
    end = beginning + length
    p = plan(committed, beginning, end, reset=reset, lookback_records=lookback)  # type: ignore[arg-type]
    assert beginning <= p.seek <= p.live_from <= end
