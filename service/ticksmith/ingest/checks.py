"""Value checks over whole tick columns, shared by every format."""

from __future__ import annotations

import operator
import time
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ticksmith.ingest.reasons import Reason
from ticksmith.ingest.records import Columns, RecordLike

TS_MIN_NS = 946_684_800 * 10**9  # 2000-01-01T00:00:00Z: ingest.min_event_time's default
_NS_MAX = 2**63 - 1
_timestamp = operator.attrgetter("timestamp")


def latest_allowed_ns(
    records: Sequence[RecordLike], max_future_skew_ms: int
) -> npt.NDArray[np.int64]:
    """Per record: the latest event time its ticks may have, its own Kafka timestamp
    plus the skew, so every replay of a record decides as live did. A record without
    a timestamp (-1: message format v0) is measured from the wall clock instead."""
    stamped = np.fromiter(map(_timestamp, records), dtype=np.int64, count=len(records))
    if (stamped < 0).any():
        stamped[stamped < 0] = time.time_ns() // 1_000_000
    skew_ns = min(max_future_skew_ms, _NS_MAX // 2 // 1_000_000) * 1_000_000
    return np.minimum(stamped, (_NS_MAX - skew_ns) // 1_000_000) * 1_000_000 + skew_ns


def check(
    cols: Columns, earliest_ns: int, latest_ns: npt.NDArray[np.int64]
) -> list[tuple[int, Reason, str]]:
    """(tick index, reason, detail) for every tick that fails a check; the first
    failing check names the reason. `latest_ns` is per tick."""
    checks: list[tuple[Reason, str, npt.NDArray[np.bool_], npt.NDArray[np.generic]]] = [
        ("bad_price", "price", ~(np.isfinite(cols.price) & (cols.price > 0)), cols.price),
        ("bad_size", "size", ~(np.isfinite(cols.size) & (cols.size >= 0)), cols.size),
        ("bad_side", "side", cols.side < 0, cols.side),
        ("bad_timestamp", "ts", (cols.ts_ns < earliest_ns) | (cols.ts_ns > latest_ns), cols.ts_ns),
    ]
    failed: list[tuple[int, Reason, str]] = []
    flagged = np.zeros(len(cols.ts_ns), dtype=bool)
    for reason, name, mask, values in checks:
        for i in np.flatnonzero(mask & ~flagged):
            failed.append((int(i), reason, f"{name}={values[i].item()!r}"))
        flagged |= mask
    return failed
