"""The monitor driving the real ProxyCache: evicted values die, held proxies raise."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from ticksmith.cache.proxy_cache import Key, ProxyCache, deep_nbytes
from ticksmith.metrics import MemoryMetrics, Metrics
from ticksmith.monitor.gc_stats import GCStats
from ticksmith.monitor.memory import MemoryProbe, Monitor, Sampler
from ticksmith.monitor.pressure import Level, MemorySample, PressurePolicy

from .fakes import FakeKernel, FakeProbe

SYMBOLS = string.ascii_uppercase[:10]


class FakeSource:
    def version(self, key: Key) -> int:
        return 0

    def compute(self, key: Key) -> pd.DataFrame:
        seed = sum(map(ord, key.symbol))
        return pd.DataFrame({"close": np.random.default_rng(seed).random(1_000)})


def key(symbol: str) -> Key:
    return Key(symbol, "indicators", 1000)


class Rig:
    def __init__(self, probe: Sampler, policy: PressurePolicy) -> None:
        self.registry = CollectorRegistry()
        self.cache = ProxyCache(10**9, {"indicators": FakeSource()}, Metrics(self.registry))
        self.gc_stats = GCStats()
        metrics = MemoryMetrics(self.registry, self.gc_stats)
        self.monitor = Monitor(probe, self.cache, metrics, self.gc_stats, policy, host_bytes=2**40)
        self.proxies: dict[str, Any] = {s: self.cache.get(key(s)) for s in SYMBOLS}

    def alive(self) -> str:
        return "".join(s for s, proxy in self.proxies.items() if _alive(proxy))


def _alive(proxy: Any) -> bool:
    try:
        return len(proxy) == 1_000
    except ReferenceError:
        return False


def test_soft_pressure_evicts_least_recently_used_to_the_target() -> None:
    e = deep_nbytes(FakeSource().compute(key("A")))  # every frame has this size
    policy = PressurePolicy(budget_bytes=100 * e, soft_ratio=0.8, relief_ratio=0.79)
    probe = FakeProbe(MemorySample(rss_bytes=0))
    rig = Rig(probe, policy)
    assert rig.cache.strong_bytes == 10 * e
    rig.cache.get(key("A"))  # A becomes the most recently used
    probe.sample_value = MemorySample(rss_bytes=83 * e - e // 2)  # 3.5 entries above 79 %

    assert rig.monitor.step().level is Level.SOFT

    assert rig.cache.strong_bytes == 6 * e  # target 6.5 entries: the four oldest went
    assert rig.alive() == "AFGHIJ"
    with pytest.raises(ReferenceError):
        rig.proxies["B"]["close"].mean()
    value = rig.registry.get_sample_value
    assert value("ticksmith_memory_evictions_total", {"level": "soft"}) == 4
    assert value("ticksmith_cache_evictions_total", {"reason": "pressure_soft"}) == 4
    assert rig.cache.read(key("B"), len) == 1_000  # the read path recomputes
    assert value("ticksmith_cache_recomputes_total", {"trigger": "reclaimed"}) == 1


def test_hard_pressure_from_the_cgroup_drops_everything_and_collects(tmp_path: Path) -> None:
    kernel = FakeKernel(tmp_path)
    directory = kernel.place("/app")
    kernel.statm(resident_pages=1)
    kernel.write(directory / "memory.max", "1000000\n")
    kernel.write(directory / "memory.current", "960000\n")
    rig = Rig(MemoryProbe.discover(kernel.proc), PressurePolicy(budget_bytes=10**12))
    with rig.gc_stats.installed():
        pressure = rig.monitor.step()
    assert (pressure.level, pressure.signal) == (Level.HARD, "cgroup")
    assert (rig.cache.strong_bytes, len(rig.cache), rig.alive()) == (0, 0, "")
    assert rig.gc_stats.snapshot()[2].collections == 1
    evictions = rig.registry.get_sample_value("ticksmith_memory_evictions_total", {"level": "hard"})
    assert evictions == len(SYMBOLS)
