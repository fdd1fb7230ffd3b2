"""Value checks over whole tick columns, shared by every format."""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt

from ticksmith.ingest.reasons import Reason
from ticksmith.ingest.records import Columns

TS_MIN_NS = 946_684_800 * 10**9  # 2000-01-01T00:00:00Z


def check(cols: Columns, max_future_skew_ms: int) -> list[tuple[int, Reason, str]]:
    """(tick index, reason, detail) for every tick that fails a check; the first
    failing check names the reason."""
    ts_max = time.time_ns() + max_future_skew_ms * 1_000_000
    checks: list[tuple[Reason, str, npt.NDArray[np.bool_], npt.NDArray[np.generic]]] = [
        ("bad_price", "price", ~(np.isfinite(cols.price) & (cols.price > 0)), cols.price),
        ("bad_size", "size", ~(np.isfinite(cols.size) & (cols.size >= 0)), cols.size),
        ("bad_side", "side", cols.side < 0, cols.side),
        ("bad_timestamp", "ts", (cols.ts_ns < TS_MIN_NS) | (cols.ts_ns > ts_max), cols.ts_ns),
    ]
    failed: list[tuple[int, Reason, str]] = []
    flagged = np.zeros(len(cols.ts_ns), dtype=bool)
    for reason, name, mask, values in checks:
        for i in np.flatnonzero(mask & ~flagged):
            failed.append((int(i), reason, f"{name}={values[i].item()!r}"))
        flagged |= mask
    return failed
