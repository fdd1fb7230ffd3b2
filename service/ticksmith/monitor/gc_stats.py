"""The Python garbage collector seen through ``gc.callbacks``: pauses and counts.

The callback runs inside the collector, in whichever thread triggered it, so it
only does bookkeeping on plain numbers: no locks, no logging, no I/O. Prometheus
reads the numbers at scrape time (:class:`ticksmith.metrics.GCMetrics`).
Collections never overlap, so the callback needs no lock of its own.
"""

from __future__ import annotations

import gc
import time
from bisect import bisect_left
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ticksmith.metrics import PAUSE_BUCKETS_SECONDS


@dataclass(slots=True)
class GenerationStats:
    """Totals for collections that reported this generation as the oldest collected."""

    collections: int = 0
    collected: int = 0
    uncollectable: int = 0
    pause_seconds_sum: float = 0.0
    # pause counts per bucket of PAUSE_BUCKETS_SECONDS, the last one above them all
    pause_buckets: list[int] = field(default_factory=lambda: [0] * (len(PAUSE_BUCKETS_SECONDS) + 1))
    started: float | None = None

    def copy(self) -> GenerationStats:
        return GenerationStats(
            self.collections,
            self.collected,
            self.uncollectable,
            self.pause_seconds_sum,
            list(self.pause_buckets),
        )


class GCStats:
    """Accumulates every collection while installed in ``gc.callbacks``."""

    def __init__(self) -> None:
        self._generations: dict[int, GenerationStats] = {
            n: GenerationStats() for n in range(len(gc.get_stats()))
        }

    def callback(self, phase: str, info: dict[str, Any]) -> None:
        """The ``gc.callbacks`` entry: time from "start" to "stop", then count."""
        gen = self._generations.setdefault(int(info["generation"]), GenerationStats())
        if phase == "start":
            gen.started = time.perf_counter()
            return
        gen.collections += 1
        gen.collected += int(info["collected"])
        gen.uncollectable += int(info["uncollectable"])
        if gen.started is not None:
            pause = time.perf_counter() - gen.started
            gen.started = None
            gen.pause_seconds_sum += pause
            gen.pause_buckets[bisect_left(PAUSE_BUCKETS_SECONDS, pause)] += 1

    def install(self) -> None:
        if self.callback not in gc.callbacks:
            gc.callbacks.append(self.callback)

    def uninstall(self) -> None:
        while self.callback in gc.callbacks:
            gc.callbacks.remove(self.callback)

    @contextmanager
    def installed(self) -> Iterator[GCStats]:
        self.install()
        try:
            yield self
        finally:
            self.uninstall()

    def snapshot(self) -> dict[int, GenerationStats]:
        """A consistent-enough copy for a scrape (a collection may run meanwhile)."""
        return {n: gen.copy() for n, gen in sorted(self._generations.items())}
