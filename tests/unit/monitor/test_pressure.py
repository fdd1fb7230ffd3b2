from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from ticksmith.config import MonitorSettings
from ticksmith.monitor.pressure import (
    Budget,
    Level,
    MemorySample,
    PressurePolicy,
    assess,
    relieve,
    resolve_budget,
    soft_target_bytes,
)
from ticksmith.monitor.pressure import Pressure as P

from .fakes import FakeCache, MiB

POLICY = PressurePolicy()  # soft 0.80, hard 0.95, relief 0.70, min shed 0.25, PSI 0.10 / 0.10
BUDGET = Budget(1000 * MiB, "configured")


def rss(mib: int, **cgroup: int | float | None) -> MemorySample:
    return MemorySample(rss_bytes=mib * MiB, **cgroup)  # type: ignore[arg-type]


# -- the budget ------------------------------------------------------------------------------


def test_a_configured_budget_wins_over_the_cgroup_limit() -> None:
    policy = PressurePolicy(budget_bytes=300 * MiB)
    assert resolve_budget(policy, 2000 * MiB, 64_000 * MiB) == Budget(300 * MiB, "configured")


def test_without_a_configured_budget_it_is_a_fraction_of_the_cgroup_limit() -> None:
    policy = PressurePolicy(budget_fraction=0.5)
    assert resolve_budget(policy, 2000 * MiB, 64_000 * MiB) == Budget(1000 * MiB, "cgroup")


def test_without_budget_or_limit_it_is_a_fraction_of_host_memory() -> None:
    assert resolve_budget(POLICY, None, 10_000 * MiB) == Budget(8000 * MiB, "host")


def test_the_declared_limit_counts_when_the_cgroup_has_none() -> None:
    budget = resolve_budget(POLICY, None, 64_000 * MiB, declared_bytes=1000 * MiB)
    assert budget == Budget(800 * MiB, "environment")


def test_of_the_cgroup_and_the_declared_limit_the_smaller_binds() -> None:
    assert resolve_budget(POLICY, 2000 * MiB, 64_000 * MiB, 1000 * MiB).source == "environment"
    assert resolve_budget(POLICY, 1000 * MiB, 64_000 * MiB, 2000 * MiB).source == "cgroup"
    assert resolve_budget(POLICY, 1000 * MiB, 64_000 * MiB, 1000 * MiB).source == "cgroup"


def test_a_configured_budget_wins_over_the_declared_limit() -> None:
    policy = PressurePolicy(budget_bytes=300 * MiB)
    assert resolve_budget(policy, None, 64_000 * MiB, 2000 * MiB) == Budget(300 * MiB, "configured")


def test_no_limit_above_host_memory_raises_the_budget_past_it() -> None:
    budget = resolve_budget(POLICY, 128_000 * MiB, 10_000 * MiB, 256_000 * MiB)
    assert budget == Budget(8000 * MiB, "host")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"soft_ratio": 0.9, "hard_ratio": 0.9},
        {"relief_ratio": 0.85},
        {"relief_ratio": 0.80},  # equal to soft: refused, as the settings refuse it
        {"budget_fraction": 0.0},
        {"budget_fraction": 1.5},
        {"budget_bytes": -1},
        {"soft_evict_min_fraction": 2.0},
    ],
)
def test_a_policy_with_thresholds_out_of_order_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        PressurePolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("relief", "ok"), [(0.79, True), (0.80, False), (0.81, False)])
def test_the_settings_and_the_policy_apply_one_ratio_rule(relief: float, ok: bool) -> None:
    def accepted(make: Callable[[], object]) -> bool:
        try:
            make()
        except ValueError:
            return False
        return True

    settings = accepted(lambda: MonitorSettings(soft_ratio=0.8, relief_ratio=relief))
    policy = accepted(lambda: PressurePolicy(soft_ratio=0.8, relief_ratio=relief))
    assert settings == policy == ok


# -- the level -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rss_mib", "level"),
    [(0, Level.NONE), (799, Level.NONE), (800, Level.SOFT), (949, Level.SOFT), (950, Level.HARD)],
)
def test_rss_against_the_budget_sets_the_level(rss_mib: int, level: Level) -> None:
    pressure = assess(rss(rss_mib), BUDGET, POLICY)
    assert pressure.level is level
    assert pressure.signal == ("rss" if level else "")


def test_excess_is_what_lies_above_the_relief_target() -> None:
    assert assess(rss(850), BUDGET, POLICY) == P(Level.SOFT, "rss", 150 * MiB)
    assert assess(rss(500), BUDGET, POLICY).excess_bytes == 0


def test_the_cgroup_working_set_against_its_limit_raises_the_level_alone() -> None:
    sample = rss(100, cgroup_working_set_bytes=1900 * MiB, cgroup_max_bytes=2000 * MiB)
    assert assess(sample, BUDGET, POLICY) == P(Level.HARD, "cgroup", 500 * MiB)


def test_an_unlimited_cgroup_is_no_signal() -> None:
    sample = rss(100, cgroup_working_set_bytes=10**12, cgroup_max_bytes=None)
    assert assess(sample, BUDGET, POLICY).level is Level.NONE


@pytest.mark.parametrize(
    ("some", "full", "level", "signal"),
    [
        (0.05, 0.0, Level.NONE, ""),
        (0.10, 0.0, Level.SOFT, "psi_some"),
        (0.50, 0.10, Level.HARD, "psi_full"),
    ],
)
def test_psi_stall_shares_set_the_level(
    some: float, full: float, level: Level, signal: str
) -> None:
    pressure = assess(rss(100, psi_some_avg10=some, psi_full_avg10=full), BUDGET, POLICY)
    assert (pressure.level, pressure.signal, pressure.excess_bytes) == (level, signal, 0)


def test_a_psi_threshold_of_zero_turns_that_signal_off() -> None:
    policy = PressurePolicy(psi_some_soft_ratio=0, psi_full_hard_ratio=0)
    sample = rss(100, psi_some_avg10=1.0, psi_full_avg10=1.0)
    assert assess(sample, BUDGET, policy).level is Level.NONE


def test_the_highest_level_of_any_signal_wins() -> None:
    sample = rss(850, psi_full_avg10=0.2)
    assert assess(sample, BUDGET, POLICY) == P(Level.HARD, "psi_full", 150 * MiB)


# -- the action ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strong", "excess", "target"),
    [(100, 60, 40), (100, 10, 75), (100, 500, 0), (0, 10, 0), (3, 0, 2)],
)
def test_soft_target_sheds_the_excess_and_at_least_the_minimum_share(
    strong: int, excess: int, target: int
) -> None:
    assert soft_target_bytes(strong, excess, 0.25) == target


def test_soft_pressure_evicts_to_the_target() -> None:
    cache = FakeCache(entries=100)
    evicted = relieve(P(Level.SOFT, "rss", 60 * MiB), Level.NONE, cache, POLICY, collect=fail)
    assert cache.calls == [(40 * MiB, "pressure_soft")]
    assert (evicted, cache.entries) == (60, 40)


def test_hard_pressure_drops_every_entry_and_collects() -> None:
    cache, collections = FakeCache(entries=10), []
    pressure = P(Level.HARD, "rss", 0)
    evicted = relieve(pressure, Level.SOFT, cache, POLICY, lambda: collections.append(1))
    assert (evicted, cache.entries, collections) == (10, 0, [1])
    assert cache.calls == [(0, "pressure_hard")]


def test_lasting_hard_pressure_with_nothing_to_evict_does_not_collect_again() -> None:
    cache = FakeCache(entries=0)
    assert relieve(P(Level.HARD, "rss", 0), Level.HARD, cache, POLICY, collect=fail) == 0


def test_no_pressure_does_nothing() -> None:
    cache = FakeCache(entries=10)
    assert relieve(P(Level.NONE, "", 0), Level.HARD, cache, POLICY, collect=fail) == 0
    assert cache.calls == []


def fail() -> None:
    raise AssertionError("no collection expected")


@pytest.mark.parametrize(("level", "entries"), [(Level.SOFT, 100), (Level.HARD, 10)])
def test_an_eviction_gives_the_freed_heap_back(level: Level, entries: int) -> None:
    trims: list[int] = []
    pressure = P(level, "rss", 60 * MiB)
    cache = FakeCache(entries=entries)
    assert relieve(pressure, Level.NONE, cache, POLICY, lambda: None, lambda: trims.append(1))
    assert trims == [1]


def test_no_eviction_or_trim_heap_off_means_no_trim() -> None:
    trims: list[int] = []

    def trim() -> None:
        trims.append(1)

    off = dataclasses.replace(POLICY, trim_heap=False)
    soft = P(Level.SOFT, "rss", 60 * MiB)
    assert relieve(soft, Level.NONE, FakeCache(entries=100), off, fail, trim) == 60
    relieve(P(Level.HARD, "rss", 0), Level.HARD, FakeCache(entries=0), POLICY, fail, trim)
    relieve(P(Level.NONE, "", 0), Level.NONE, FakeCache(entries=10), POLICY, fail, trim)
    assert trims == []
