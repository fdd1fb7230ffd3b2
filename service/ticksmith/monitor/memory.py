"""The memory monitor: sample RSS, cgroup v2 and PSI; judge the pressure; evict.

:class:`MemoryProbe` reads the kernel's files (every one may be absent: no cgroup
v2, no limit, no PSI). :class:`Monitor` samples every ``interval_ms`` on the event
loop, decides with :mod:`ticksmith.monitor.pressure`, acts on the cache and
exports the figures. A sample that fails (a file that exists but cannot be read
or parsed) stops the monitor; the failure is logged at once and re-raised by
:meth:`Monitor.check`, :meth:`Monitor.wait` and :meth:`Monitor.stop`.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

import psutil

from ticksmith.monitor.gc_stats import GCStats
from ticksmith.monitor.memory_metrics import MemoryMetrics
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

PROC = Path("/proc")
SYSTEM_PSI = PROC / "pressure" / "memory"
_ABSENT = {errno.ENOENT, errno.ENODEV, errno.EOPNOTSUPP}  # EOPNOTSUPP: PSI off at boot


@dataclass(frozen=True, slots=True)
class Cgroup:
    """A cgroup v2 directory and the mount it lives under."""

    mount: Path
    path: Path

    def lineage(self) -> list[Path]:
        """This cgroup and its ancestors up to the mount: a limit may be set on any."""
        dirs = [self.path]
        while dirs[-1] != self.mount and dirs[-1].parent != dirs[-1]:
            dirs.append(dirs[-1].parent)
        return dirs


def find_cgroup(proc: Path = PROC) -> Cgroup | None:
    """The process's cgroup v2 from /proc/self/cgroup and /proc/self/mountinfo."""
    relative = _unified_path(_read_text(proc / "self" / "cgroup"))
    mount = _cgroup2_mount(_read_text(proc / "self" / "mountinfo"))
    if relative is None or mount is None:
        return None
    root, point = mount
    if root != "/" and (relative == root or relative.startswith(root + "/")):
        relative = relative[len(root) :]  # a mount of a subtree starts at its own root
    path = point / relative.lstrip("/")
    return Cgroup(point, path) if path.is_dir() else None


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
    ) -> None:
        self.cgroup = cgroup
        self._statm = statm
        self._page_size = os.sysconf("SC_PAGE_SIZE")
        self._lineage = cgroup.lineage() if cgroup else []
        self._psi = (
            cgroup.path / "memory.pressure"
            if cgroup and (cgroup.path / "memory.pressure").exists()
            else system_psi
        )

    @classmethod
    def discover(cls, proc: Path = PROC) -> MemoryProbe:
        return cls(find_cgroup(proc), proc / "self" / "statm", proc / "pressure" / "memory")

    @property
    def psi_path(self) -> Path:
        return self._psi

    def sample(self) -> MemorySample:
        current = self._cgroup_bytes("memory.current")
        psi = _read_text(self._psi)
        some, full = parse_psi(psi) if psi is not None else (None, None)
        return MemorySample(
            rss_bytes=self._rss_bytes(),
            cgroup_current_bytes=current,
            cgroup_working_set_bytes=self._working_set(current),
            cgroup_max_bytes=self._limit_bytes(),
            psi_some_avg10=some,
            psi_full_avg10=full,
        )

    def _rss_bytes(self) -> int:
        statm = _read_text(self._statm)
        if statm is None:  # not Linux
            return int(psutil.Process().memory_info().rss)
        return int(statm.split()[1]) * self._page_size

    def _cgroup_bytes(self, name: str) -> int | None:
        return _read_bytes(self.cgroup.path / name) if self.cgroup else None

    def _working_set(self, current: int | None) -> int | None:
        stat = _read_text(self.cgroup.path / "memory.stat") if self.cgroup else None
        if current is None or stat is None:
            return current
        match = re.search(r"^inactive_file (\d+)$", stat, re.MULTILINE)
        return max(0, current - int(match[1])) if match else current

    def _limit_bytes(self) -> int | None:
        limits = [_read_bytes(d / "memory.max") for d in self._lineage]
        return min((n for n in limits if n is not None), default=None)


class MonitorFailed(RuntimeError):
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
    ) -> None:
        if interval_ms <= 0:
            raise ValueError(f"interval_ms must be > 0, got {interval_ms}")
        self._probe, self._cache, self._metrics = probe, cache, metrics
        self._gc_stats, self._policy, self._interval_s = gc_stats, policy, interval_ms / 1000
        self._host_bytes = host_bytes or int(psutil.virtual_memory().total)
        self._task: asyncio.Task[None] | None = None
        self.level = Level.NONE
        self.last: Pressure | None = None
        self.budget: Budget | None = None

    def step(self) -> Pressure:
        """One sample: measure, decide, act, export."""
        sample = self._probe.sample()
        self.budget = resolve_budget(self._policy, sample.cgroup_max_bytes, self._host_bytes)
        pressure = assess(sample, self.budget, self._policy)
        evicted = relieve(pressure, self.level, self._cache, self._policy)
        self._metrics.record(sample, self.budget, pressure, evicted)
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


def _read_text(path: Path) -> str | None:
    """The file's text, or None if it (or PSI support) is absent; other errors raise."""
    try:
        return path.read_text()
    except OSError as exc:
        if exc.errno in _ABSENT:
            return None
        raise


def _read_bytes(path: Path) -> int | None:
    """A cgroup byte count; None for an absent file or "max" (no limit)."""
    text = _read_text(path)
    if text is None or text.strip() == "max":
        return None
    return int(text)


def _unified_path(text: str | None) -> str | None:
    for line in (text or "").splitlines():
        if line.startswith("0::"):
            return line[3:].strip()
    return None


def _cgroup2_mount(text: str | None) -> tuple[str, Path] | None:
    """(root within the hierarchy, mount point) of the first cgroup2 mount."""
    for line in (text or "").splitlines():
        before, _, after = line.partition(" - ")
        fields = before.split()
        if after.split()[:1] == ["cgroup2"] and len(fields) >= 5:
            return _unescape(fields[3]), Path(_unescape(fields[4]))
    return None


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)
