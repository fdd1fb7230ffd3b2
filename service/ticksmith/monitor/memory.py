"""The memory monitor: sample RSS, the memory cgroup (v1 or v2) and PSI; judge the
pressure; evict.

:class:`MemoryProbe` reads the kernel's files (every one may be absent: no memory
cgroup, no limit, no PSI; :mod:`ticksmith.monitor.cgroup` finds the cgroup).
:class:`Monitor` samples every ``interval_ms`` on the event
loop, decides with :mod:`ticksmith.monitor.pressure`, acts on the cache and
exports the figures. A sample that fails (a file that exists but cannot be read
or parsed) stops the monitor; the failure is logged at once and re-raised by
:meth:`Monitor.check`, :meth:`Monitor.wait` and :meth:`Monitor.stop`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from pathlib import Path
from types import TracebackType
from typing import Protocol

import psutil

from ticksmith.errors import TicksmithError
from ticksmith.metrics import MemoryMetrics
from ticksmith.monitor.cgroup import PROC, V1_UNLIMITED_BYTES, Cgroup, find_cgroup, read_text
from ticksmith.monitor.gc_stats import GCStats
from ticksmith.monitor.pressure import (
    Budget,
    Evictable,
    Level,
    MemorySample,
    Pressure,
    PressurePolicy,
    assess,
    relieve,
    resolve_budget,
)

log = logging.getLogger(__name__)

SYSTEM_PSI = PROC / "pressure" / "memory"


def parse_psi(text: str) -> tuple[float | None, float | None]:
    """`some` and `full` avg10 of a PSI file, as shares of time (0..1)."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        fields = dict(item.split("=", 1) for item in rest.split())
        if kind in ("some", "full") and "avg10" in fields:
            found[kind] = float(fields["avg10"]) / 100
    return found.get("some"), found.get("full")


class Sampler(Protocol):
    def sample(self) -> MemorySample: ...


class MemoryProbe:
    """Reads one :class:`MemorySample`; paths are injectable for tests."""

    def __init__(
        self,
        cgroup: Cgroup | None,
        statm: Path = PROC / "self" / "statm",
        system_psi: Path = SYSTEM_PSI,
        unified: Cgroup | None = None,
    ) -> None:
        self.cgroup = cgroup
        self._statm = statm
        self._page_size = os.sysconf("SC_PAGE_SIZE")
        self._lineage = cgroup.lineage() if cgroup else []
        # PSI is a v2 file: the memory cgroup's, else (hybrid host) the unified cgroup's
        candidates = [c.path / "memory.pressure" for c in (cgroup, unified) if c is not None]
        self._psi = next((p for p in candidates if p.exists()), system_psi)

    @classmethod
    def discover(cls, proc: Path = PROC) -> MemoryProbe:
        cgroup = find_cgroup(proc)
        log.info("memory cgroup: %s", cgroup or "none found, so no cgroup figures")
        statm, psi = proc / "self" / "statm", proc / "pressure" / "memory"
        return cls(cgroup, statm, psi, unified=find_cgroup(proc, version=2))

    @property
    def psi_path(self) -> Path:
        return self._psi

    def sample(self) -> MemorySample:
        current = self._cgroup_bytes()
        stat = read_text(self.cgroup.path / "memory.stat") if self.cgroup else None
        psi = read_text(self._psi)
        some, full = parse_psi(psi) if psi is not None else (None, None)
        return MemorySample(
            rss_bytes=self._rss_bytes(),
            cgroup_current_bytes=current,
            cgroup_working_set_bytes=self._working_set(current, stat),
            cgroup_max_bytes=self._limit_bytes(stat),
            psi_some_avg10=some,
            psi_full_avg10=full,
        )

    def _rss_bytes(self) -> int:
        statm = read_text(self._statm)
        if statm is None:  # not Linux
            return int(psutil.Process().memory_info().rss)
        return int(statm.split()[1]) * self._page_size

    def _cgroup_bytes(self) -> int | None:
        return _read_bytes(self.cgroup.path / self.cgroup.files.current) if self.cgroup else None

    def _working_set(self, current: int | None, stat: str | None) -> int | None:
        if current is None or stat is None or self.cgroup is None:
            return current
        inactive = _stat_value(stat, self.cgroup.files.inactive_file)
        return max(0, current - inactive) if inactive is not None else current

    def _limit_bytes(self, stat: str | None) -> int | None:
        """The smallest limit up the tree; None when each says "no limit" or is absent."""
        if self.cgroup is None:
            return None
        files = self.cgroup.files
        limits = [_read_bytes(d / files.limit) for d in self._lineage]
        if stat is not None and files.effective_limit:  # v1: ancestors past the mount too
            limits.append(_stat_value(stat, (files.effective_limit,)))
        return min((n for n in limits if n is not None and n < V1_UNLIMITED_BYTES), default=None)


class MonitorFailed(TicksmithError, RuntimeError):
    """The monitor stopped on an error; the cause is chained."""


class Monitor:
    """Samples memory every `interval_ms`, sets the pressure level and relieves it."""

    def __init__(
        self,
        probe: Sampler,
        cache: Evictable,
        metrics: MemoryMetrics,
        gc_stats: GCStats,
        policy: PressurePolicy,
        interval_ms: int = 1_000,
        host_bytes: int | None = None,
        declared_limit_bytes: int | None = None,
    ) -> None:
        if interval_ms <= 0:
            raise ValueError(f"interval_ms must be > 0, got {interval_ms}")
        self._probe, self._cache, self._metrics = probe, cache, metrics
        self._gc_stats, self._policy, self._interval_s = gc_stats, policy, interval_ms / 1000
        self._host_bytes = host_bytes or int(psutil.virtual_memory().total)
        self._declared_bytes = declared_limit_bytes  # TICKSMITH_MEMORY_LIMIT_BYTES
        self._task: asyncio.Task[None] | None = None
        self.level = Level.NONE
        self.last: Pressure | None = None
        self.budget: Budget | None = None

    def step(self) -> Pressure:
        """One sample: measure, decide, act, export."""
        sample = self._probe.sample()
        self.budget = resolve_budget(
            self._policy, sample.cgroup_max_bytes, self._host_bytes, self._declared_bytes
        )
        pressure = assess(sample, self.budget, self._policy)
        evicted = relieve(pressure, self.level, self._cache, self._policy)
        self._metrics.record(sample, self.budget.bytes, pressure.level, evicted)
        if pressure.level is not self.level:
            _log_transition(self.level, pressure, sample, self.budget, evicted)
        self.level, self.last = pressure.level, pressure
        return pressure

    async def start(self) -> None:
        """Install the GC callback and take a first sample here, so a broken
        environment fails start-up rather than a background task."""
        if self._task is not None:
            raise RuntimeError("memory monitor already started")
        self._gc_stats.install()
        try:
            pressure = self.step()
        except BaseException:
            self._gc_stats.uninstall()
            raise
        log.info("memory budget %d bytes (%s), level %s", *self._describe(pressure))
        self._task = asyncio.create_task(self._run(), name="memory-monitor")

    async def stop(self) -> None:
        """Stop sampling; re-raise the failure that stopped the monitor, if any."""
        task, self._task = self._task, None
        self._gc_stats.uninstall()
        if task is None:
            return
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        _raise_failure(task)

    def check(self) -> None:
        """Raise :class:`MonitorFailed` if the sampling task has died."""
        if self._task is not None and self._task.done():
            _raise_failure(self._task)

    async def wait(self) -> None:
        """Return when the monitor stops; raise :class:`MonitorFailed` if it failed."""
        task = self._task
        if task is not None:
            await asyncio.wait([task])
            _raise_failure(task)

    async def __aenter__(self) -> Monitor:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.stop()
        except MonitorFailed:
            if exc is None:  # else it was logged, and the error in flight matters more
                raise

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                self.step()
            except Exception:
                log.exception("memory monitor stopped: sampling failed")
                raise

    def _describe(self, pressure: Pressure) -> tuple[int, str, str]:
        budget = self.budget or Budget(0, "configured")
        return budget.bytes, budget.source, pressure.level.name.lower()


def _raise_failure(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        raise MonitorFailed(f"memory monitor failed: {error!r}") from error


def _log_transition(
    previous: Level, pressure: Pressure, sample: MemorySample, budget: Budget, evicted: int
) -> None:
    level = log.warning if pressure.level > previous else log.info
    level(
        "memory pressure %s -> %s (signal %s): rss %d of budget %d, cgroup %s of %s, "
        "evicted %d cache entries",
        previous.name.lower(),
        pressure.level.name.lower(),
        pressure.signal or "-",
        sample.rss_bytes,
        budget.bytes,
        sample.cgroup_working_set_bytes,
        sample.cgroup_max_bytes,
        evicted,
    )


def _read_bytes(path: Path) -> int | None:
    """A cgroup byte count; None for an absent file or "max" (no limit)."""
    text = read_text(path)
    if text is None or text.strip() == "max":
        return None
    return int(text)


def _stat_value(stat: str, keys: tuple[str, ...]) -> int | None:
    """The value of the first of `keys` that memory.stat has."""
    for key in keys:
        match = re.search(rf"^{key} (\d+)$", stat, re.MULTILINE)
        if match:
            return int(match[1])
    return None
