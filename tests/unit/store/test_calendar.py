"""Time bars with a zone and an origin: the store against pandas' resample
(tests/oracle.py, calendar_bins) across both of New York's DST changes."""

import itertools
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.oracle import DAY_NS, assert_bars_equal, calendar_bins, offline_calendar_bars
from tests.unit.store.test_store import all_bars, to_batch
from ticksmith.store.calendar import Calendar, local_ns
from ticksmith.store.store import Store

NEW_YORK = "America/New_York"
MONDAY_OPEN = datetime(2025, 3, 3, 9, 30)  # a Monday at the session open
MINUTE_MS, HOUR_MS, DAY_MS = 60_000, 3_600_000, 86_400_000
INTERVALS_MS = [MINUTE_MS, HOUR_MS, 2 * HOUR_MS, DAY_MS, 2 * DAY_MS, 7 * DAY_MS]
DST_CHANGES = {
    "spring": pd.Timestamp("2025-03-09 07:00", tz="UTC"),  # 02:00 EST -> 03:00 EDT
    "autumn": pd.Timestamp("2025-11-02 06:00", tz="UTC"),  # 02:00 EDT -> 01:00 EST
}


def ticks_around(change: pd.Timestamp, seed: int, n: int, symbols: int) -> pd.DataFrame:
    """`n` ticks within nine days either side of `change`, in time order; some
    symbols trade rarely, so their bars span days without a tick."""
    rng = np.random.default_rng(seed)
    span = 9 * DAY_NS
    ts = np.sort(change.value + rng.integers(-span, span, n)).astype(np.int64)
    return pd.DataFrame(
        {
            "symbol": rng.choice([f"S{i}" for i in range(symbols)], n).astype(object),
            "ts": ts,
            "price": np.round(100 + rng.standard_normal(n).cumsum(), 2),
            "size": rng.integers(1, 500, n).astype(np.float64),
        }
    )


@settings(max_examples=40, deadline=None)
@given(
    change=st.sampled_from(list(DST_CHANGES)),
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 600),
    symbols=st.integers(1, 4),
    cuts=st.lists(st.integers(0, 600), max_size=6),
)
def test_every_interval_equals_pandas_resample_across_a_dst_change(
    change: str, seed: int, n: int, symbols: int, cuts: list[int]
) -> None:
    ticks = ticks_around(DST_CHANGES[change], seed, n, symbols)
    calendar = Calendar(NEW_YORK, MONDAY_OPEN)
    store = Store(INTERVALS_MS, history_bars=10_000, ticks_per_symbol=64, calendar=calendar)
    closed = dict.fromkeys(INTERVALS_MS, 0)
    for lo, hi in itertools.pairwise(sorted({0, n, *(c for c in cuts if c < n)})):
        result = store.apply(to_batch(ticks.iloc[lo:hi]))
        assert len(result.late) == 0
        for ms, by_symbol in result.closed.items():
            closed[int(ms)] += sum(len(rows) for rows in by_symbol.values())
    for ms in INTERVALS_MS:
        every = offline_calendar_bars(ticks, ms * 1_000_000, NEW_YORK, pd.Timestamp(MONDAY_OPEN))
        expected = every[every["closed"]]
        assert closed[ms] == len(expected), ms
        if len(expected):
            got = all_bars(store, ms).loc[expected.index]
            assert_bars_equal(got, expected)
            starts = expected.index.get_level_values("start_ns").to_numpy(np.int64)
            ends = calendar.buckets(ms * 1_000_000).end(starts)
            np.testing.assert_array_equal(ends, expected["end_ns"].to_numpy())
        for symbol, bars in every.groupby(level="symbol"):
            forming = store.forming(str(symbol), ms)  # the bar in progress, last
            assert forming["start_ns"][-1] == bars.index[-1][1]
            assert forming["count"][-1] == bars["count"].iloc[-1]
            assert forming["close"][-1] == bars["close"].iloc[-1]


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(["America/New_York", "Europe/London", "Australia/Lord_Howe", "UTC"]),
    origin=st.sampled_from(["1970-01-01 00:00", "2025-03-03 09:30", "2024-07-01 17:15"]),
    interval_ms=st.sampled_from([15 * MINUTE_MS, HOUR_MS, 5 * HOUR_MS, DAY_MS, 3 * DAY_MS]),
    times=st.lists(st.integers(946_684_800 * 10**9, 4_102_444_800 * 10**9), min_size=1),
)
def test_buckets_are_pandas_bins_in_any_year(
    zone: str, origin: str, interval_ms: int, times: list[int]
) -> None:
    """From 2000 to 2100, in zones with hour and half-hour DST changes."""
    ts = np.array(times, np.int64)
    buckets = Calendar(zone, pd.Timestamp(origin).to_pydatetime()).buckets(interval_ms * 10**6)
    start, end = calendar_bins(ts, interval_ms * 10**6, zone, pd.Timestamp(origin))
    np.testing.assert_array_equal(buckets.start(ts), start)
    np.testing.assert_array_equal(buckets.end(buckets.start(ts)), end)


@given(ts=st.lists(st.integers(0, 2**62), min_size=1), interval_ms=st.integers(1, 10 * DAY_MS))
def test_utc_from_the_epoch_is_epoch_aligned_arithmetic(ts: list[int], interval_ms: int) -> None:
    times, interval = np.array(ts, np.int64), interval_ms * 1_000_000
    buckets = Calendar().buckets(interval)
    np.testing.assert_array_equal(buckets.start(times), times - times % interval)
    np.testing.assert_array_equal(buckets.end(times), times + interval)


@pytest.mark.parametrize(
    ("day", "wall"),
    [("2025-03-09", "02:30"), ("2025-11-02", "01:30"), ("2025-06-01", "09:30")],
)
def test_a_skipped_time_moves_to_the_change_and_a_repeated_one_is_its_first(
    day: str, wall: str
) -> None:
    """As pandas localizes them with nonexistent="shift_forward", ambiguous=True."""
    local = pd.Timestamp(f"{day} {wall}")
    want = local.tz_localize(NEW_YORK, nonexistent="shift_forward", ambiguous=True)
    got = local_ns(local.date(), local.time(), Calendar(NEW_YORK).zone)
    assert got == want.value


def test_a_day_across_the_spring_change_is_23_hours_and_the_week_167() -> None:
    calendar = Calendar(NEW_YORK, MONDAY_OPEN)
    saturday = pd.Timestamp("2025-03-08 12:00", tz=NEW_YORK).value
    day = calendar.buckets(DAY_NS).start(np.array([saturday]))
    week = calendar.buckets(7 * DAY_NS).start(np.array([saturday]))
    assert pd.Timestamp(day[0], tz=NEW_YORK) == pd.Timestamp("2025-03-08 09:30", tz=NEW_YORK)
    assert pd.Timestamp(week[0], tz=NEW_YORK) == pd.Timestamp("2025-03-03 09:30", tz=NEW_YORK)
    assert (calendar.buckets(DAY_NS).end(day) - day)[0] == 23 * 3_600 * 10**9
    assert (calendar.buckets(7 * DAY_NS).end(week) - week)[0] == 167 * 3_600 * 10**9


def test_a_day_a_replay_began_inside_is_dropped_and_the_days_after_are_whole() -> None:
    """After a restart whose replay starts mid-day: that day's bar would miss its
    first ticks, so it is not kept (docs/bars.md, "Restarts"); later ones are exact."""
    ticks = ticks_around(DST_CHANGES["spring"], seed=5, n=3_000, symbols=1)
    replayed = ticks[ticks["ts"] >= pd.Timestamp("2025-03-08 12:00", tz=NEW_YORK).value]
    store = Store(
        INTERVALS_MS,
        history_bars=10_000,
        ticks_per_symbol=64,
        calendar=Calendar(NEW_YORK, MONDAY_OPEN),
    )
    floor = int(replayed["ts"].iloc[0])
    store.replay_floor_ns[0] = floor  # as the pipeline sets it: the replay's first tick
    result = store.apply(to_batch(replayed))
    every = offline_calendar_bars(ticks, DAY_NS, NEW_YORK, pd.Timestamp(MONDAY_OPEN))
    starts = every.index.get_level_values("start_ns")
    want = every[every["closed"] & (starts >= floor)]
    got = all_bars(store, DAY_MS)
    assert got.index.equals(want.index) and len(want) >= 5
    assert_bars_equal(got, want)
    day_of_the_change = pd.Timestamp("2025-03-08 09:30", tz=NEW_YORK).value
    assert every["closed"].loc[("S0", day_of_the_change)]  # closed, but not kept
    assert result.partial_dropped >= 3  # that day, its week, its hour (and minute)
