"""Start-up warnings: bars a restart cannot rebuild because the replay is too short.

A bar whose start the warm-up replay did not reach is never published
(``ticksmith_partial_bars_dropped_total``): after a restart, every bar set
loses the bar it was forming unless ``ingest.replay_lookback_ms`` (or
``_records``) covers it. For long bars that is a lot to lose, so say so.
"""

from __future__ import annotations

import logging

from ticksmith.config import Settings

log = logging.getLogger(__name__)
DAY_MS = 86_400_000
DST_MS = 3_600_000  # the most a DST change lengthens a local day


def warn_short_lookback(settings: Settings, *, activity: bool) -> None:
    """Warn when the time lookback is shorter than an anchor period of activity bars
    (when there are any) or than a time bar of a day or more (docs/bars.md)."""
    if activity:
        _check_anchor(settings)
    _check_long_bars(settings)


def _check_anchor(settings: Settings) -> None:
    lookback_ms, anchor_ms = settings.ingest.replay_lookback_ms, settings.bars.activity_anchor_ms
    if lookback_ms < anchor_ms:
        log.warning(
            "ingest.replay_lookback_ms=%d is shorter than bars.activity_anchor_ms=%d: after a"
            " restart, activity bars of an anchor period the replay (also"
            " ingest.replay_lookback_records) did not read from its start are not published;"
            " set ingest.replay_lookback_ms >= bars.activity_anchor_ms (docs/bars.md)",
            lookback_ms,
            anchor_ms,
        )


def _check_long_bars(settings: Settings) -> None:
    coarsest_ms = settings.bars.intervals_ms[-1]
    needed_ms = coarsest_ms + (DST_MS if settings.bars.timezone != "UTC" else 0)
    lookback_ms = settings.ingest.replay_lookback_ms
    if coarsest_ms >= DAY_MS and lookback_ms < needed_ms:
        log.warning(
            "ingest.replay_lookback_ms=%d is shorter than the longest time bar (%d ms, plus"
            " an hour when a DST change lengthens it): after a restart, the bar it was"
            " forming is not published unless the replay (also"
            " ingest.replay_lookback_records) reached its start; set"
            " ingest.replay_lookback_ms >= %d (docs/bars.md)",
            lookback_ms,
            coarsest_ms,
            needed_ms,
        )
