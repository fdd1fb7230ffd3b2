"""Start-up warns when a restart could not rebuild a day-long time bar."""

from __future__ import annotations

import logging

import pytest

from ticksmith.config import BarSettings, IngestSettings, Settings
from ticksmith.pipeline.lookback import warn_short_lookback

DAY_MS, HOUR_MS = 86_400_000, 3_600_000
NEW_YORK_DAYS = BarSettings(intervals_ms=(60_000, DAY_MS), timezone="America/New_York")


@pytest.mark.parametrize(
    ("bars", "lookback_ms", "warned"),
    [
        (NEW_YORK_DAYS, DAY_MS, True),  # a 25-hour day needs an hour more
        (NEW_YORK_DAYS, DAY_MS + HOUR_MS, False),
        (BarSettings(intervals_ms=(1_000, DAY_MS)), DAY_MS, False),  # UTC days are 24 h
        (BarSettings(intervals_ms=(1_000, HOUR_MS)), 0, False),  # under a day: as before
    ],
)
def test_a_lookback_shorter_than_the_longest_time_bar_is_warned_about(
    bars: BarSettings, lookback_ms: int, warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(bars=bars, ingest=IngestSettings(replay_lookback_ms=lookback_ms))
    with caplog.at_level(logging.WARNING, logger="ticksmith.pipeline.lookback"):
        warn_short_lookback(settings, activity=False)
    said = [r.getMessage() for r in caplog.records if "longest time bar" in r.getMessage()]
    assert bool(said) == warned
    assert all("ingest.replay_lookback_ms >=" in message for message in said)
