from __future__ import annotations

import asyncio
import errno
import gc
import logging
import math

import pytest
from prometheus_client import CollectorRegistry

from ticksmith.metrics import MemoryMetrics
from ticksmith.monitor.gc_stats import GCStats
from ticksmith.monitor.memory import Monitor, MonitorFailed
from ticksmith.monitor.pressure import Level, MemorySample, PressurePolicy

from .fakes import FakeCache, FakeProbe, MiB

pytestmark = pytest.mark.timeout(10)
DEADLINE_S = 5.0
CALM = MemorySample(rss_bytes=100 * MiB)
SOFT = MemorySample(rss_bytes=850 * MiB)  # 85 % of the 1000 MiB budget


class Rig:
    def __init__(self, sample: MemorySample = CALM, **policy: float) -> None:
        self.registry = CollectorRegistry()
        self.probe = FakeProbe(sample)
        self.cache = FakeCache(entries=400)  # 400 MiB
        self.gc_stats = GCStats()
        self.monitor = Monitor(
            self.probe,
            self.cache,
            MemoryMetrics(self.registry, self.gc_stats),
            self.gc_stats,
            PressurePolicy(**{"budget_bytes": 1000 * MiB, **policy}),  # type: ignore[arg-type]
            interval_ms=5,
            host_bytes=64_000 * MiB,
        )

    def value(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)


def test_a_step_exports_every_memory_figure() -> None:
    rig = Rig(
        MemorySample(
            rss_bytes=100 * MiB,
            cgroup_current_bytes=700 * MiB,
            cgroup_working_set_bytes=650 * MiB,
            cgroup_max_bytes=2000 * MiB,
            psi_some_avg10=0.02,
            psi_full_avg10=0.01,
        )
    )
    rig.monitor.step()
    assert rig.value("ticksmith_memory_budget_bytes") == 1000 * MiB
    assert rig.value("ticksmith_cgroup_memory_current_bytes") == 700 * MiB
    assert rig.value("ticksmith_cgroup_memory_working_set_bytes") == 650 * MiB
    assert rig.value("ticksmith_cgroup_memory_max_bytes") == 2000 * MiB
    assert rig.value("ticksmith_memory_pressure_stall_ratio", kind="some") == 0.02
    assert rig.value("ticksmith_memory_pressure_stall_ratio", kind="full") == 0.01
    assert rig.value("ticksmith_memory_pressure_level") == 0
    assert rig.value("ticksmith_memory_evictions_total", level="soft") == 0


def test_what_the_kernel_does_not_say_is_exported_as_nan() -> None:
    rig = Rig()
    rig.monitor.step()
    for name in ("current", "working_set", "max"):
        assert math.isnan(rig.value(f"ticksmith_cgroup_memory_{name}_bytes") or 0.0)
    assert math.isnan(rig.value("ticksmith_memory_pressure_stall_ratio", kind="some") or 0.0)


def test_without_a_configured_budget_the_cgroup_limit_sets_it() -> None:
    rig = Rig(MemorySample(rss_bytes=1, cgroup_max_bytes=2000 * MiB), budget_bytes=0)
    rig.monitor.step()
    assert rig.monitor.budget is not None and rig.monitor.budget.source == "cgroup"
    assert rig.value("ticksmith_memory_budget_bytes") == 1600 * MiB


def test_soft_then_hard_pressure_evict_and_are_counted_by_level() -> None:
    rig = Rig(SOFT)
    assert rig.monitor.step().level is Level.SOFT
    assert rig.cache.entries == 250  # shed the 150 MiB of RSS above 70 % of the budget
    assert rig.value("ticksmith_memory_evictions_total", level="soft") == 150
    rig.probe.sample_value = MemorySample(rss_bytes=990 * MiB)
    assert rig.monitor.step().level is Level.HARD
    assert rig.cache.entries == 0
    assert rig.value("ticksmith_memory_evictions_total", level="hard") == 250
    assert rig.value("ticksmith_memory_pressure_level") == 2


async def test_a_running_monitor_relieves_pressure_when_it_rises() -> None:
    rig = Rig()
    async with rig.monitor:
        assert rig.cache.calls == []
        rig.probe.sample_value = SOFT
        await asyncio.wait_for(rig.cache.evicted.wait(), DEADLINE_S)
        assert rig.cache.calls[0][1] == "pressure_soft"
        assert rig.monitor.level is Level.SOFT


async def test_a_sampling_failure_stops_the_monitor_and_surfaces(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig()
    await rig.monitor.start()
    rig.probe.error = PermissionError(errno.EACCES, "Permission denied", "memory.current")
    with pytest.raises(MonitorFailed) as failed:
        await asyncio.wait_for(rig.monitor.wait(), DEADLINE_S)
    assert isinstance(failed.value.__cause__, PermissionError)
    assert "memory monitor stopped" in caplog.text
    with pytest.raises(MonitorFailed):
        rig.monitor.check()
    with pytest.raises(MonitorFailed):
        await rig.monitor.stop()
    assert rig.gc_stats.callback not in gc.callbacks


async def test_a_failure_in_the_first_sample_fails_start() -> None:
    rig = Rig()
    rig.probe.error = ValueError("invalid literal for int()")
    with pytest.raises(ValueError):
        await rig.monitor.start()
    assert rig.gc_stats.callback not in gc.callbacks
    await rig.monitor.stop()  # nothing to stop, nothing raised


async def test_start_installs_the_gc_callback_and_stop_removes_it() -> None:
    rig = Rig()
    async with rig.monitor:
        assert rig.gc_stats.callback in gc.callbacks
        rig.monitor.check()  # alive: no error
        with pytest.raises(RuntimeError, match="already started"):
            await rig.monitor.start()
    assert rig.gc_stats.callback not in gc.callbacks


async def test_an_error_in_flight_is_not_masked_by_a_monitor_failure() -> None:
    rig = Rig()
    with pytest.raises(KeyError):
        async with rig.monitor:
            rig.probe.error = OSError(errno.EIO, "I/O error")
            with pytest.raises(MonitorFailed):
                await asyncio.wait_for(rig.monitor.wait(), DEADLINE_S)
            raise KeyError("the app's own error")


def test_level_changes_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig(SOFT)
    with caplog.at_level(logging.INFO, logger="ticksmith.monitor.memory"):
        rig.monitor.step()
        rig.monitor.step()  # no change, no line
        rig.probe.sample_value = CALM
        rig.monitor.step()
    lines = [(r.levelname, r.getMessage().split(" (")[0]) for r in caplog.records]
    assert lines == [
        ("WARNING", "memory pressure none -> soft"),
        ("INFO", "memory pressure soft -> none"),
    ]
