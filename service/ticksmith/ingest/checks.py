"""Value checks over whole tick columns, shared by every format."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ticksmith.ingest.reasons import Reason
from ticksmith.ingest.records import Columns, RecordLike

TS_MIN_NS = 946_684_800 * 10**9  # 2000-01-01T00:00:00Z: ingest.min_event_time's default
_NS_MAX = 2**63 - 1


def latest_allowed_ns(
    records: Sequence[RecordLike], max_future_skew_ms: int
) -> npt.NDArray[np.int64]:
    """Per record: the latest event time its ticks may have, its own Kafka timestamp
    plus the skew, so every replay of a record decides as live did. A record without
    a timestamp (-1: message format v0) is measured from the wall clock instead."""
    stamped = np.fromiter([r.timestamp for r in records], dtype=np.int64, count=len(records))
    if (stamped < 0).any():
        stamped[stamped < 0] = time.time_ns() // 1_000_000
    skew_ns = min(max_future_skew_ms, _NS_MAX // 2 // 1_000_000) * 1_000_000
    return np.minimum(stamped, (_NS_MAX - skew_ns) // 1_000_000) * 1_000_000 + skew_ns


CHECKS: tuple[tuple[Reason, str], ...] = (
    ("bad_price", "price"),
    ("bad_size", "size"),
    ("bad_side", "side"),
    ("bad_timestamp", "ts"),
)


def check(
    cols: Columns, earliest_ns: int, latest_ns: npt.NDArray[np.int64]
) -> npt.NDArray[np.int8]:
    """Per tick: 0 if it passes every check, else 1 + the index in CHECKS of the
    first check it fails. `latest_ns` is per tick."""
    failing = [
        ~(np.isfinite(cols.price) & (cols.price > 0)),
        ~(np.isfinite(cols.size) & (cols.size >= 0)),
        cols.side < 0,
        (cols.ts_ns < earliest_ns) | (cols.ts_ns > latest_ns),
    ]
    return np.select(failing, np.arange(1, len(CHECKS) + 1, dtype=np.int8), 0).astype(np.int8)


def describe(cols: Columns, tick: int, problem: int) -> tuple[Reason, str]:
    """The reason and detail for `tick`, which failed the check `problem` names."""
    reason, name = CHECKS[problem - 1]
    column = (cols.price, cols.size, cols.side, cols.ts_ns)[problem - 1]
    return reason, f"{name}={column[tick].item()!r}"
