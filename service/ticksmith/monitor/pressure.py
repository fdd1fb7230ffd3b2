"""Memory pressure: from one memory sample to a level, and from a level to an action.

The decision (:func:`resolve_budget`, :func:`assess`, :func:`soft_target_bytes`) is
pure, so it is tested with plain numbers. :func:`relieve` acts on anything
:class:`Evictable` — the proxy cache in the service.

Levels: NONE, SOFT (evict least-recently-used cache entries down to a target),
HARD (drop every strong cache entry and run a full collection).
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal, Protocol

from ticksmith.config import check_ratios
from ticksmith.monitor import heap


class Level(IntEnum):
    NONE = 0
    SOFT = 1
    HARD = 2


BudgetSource = Literal["configured", "cgroup", "environment", "host"]
Signal = Literal["", "rss", "cgroup", "psi_some", "psi_full"]


@dataclass(frozen=True, slots=True)
class MemorySample:
    """One reading of the process's memory; None where the kernel does not say."""

    rss_bytes: int
    cgroup_current_bytes: int | None = None
    cgroup_working_set_bytes: int | None = None  # current minus inactive file cache
    cgroup_max_bytes: int | None = None  # None: no memory cgroup, or no limit
    psi_some_avg10: float | None = None  # share of the last 10 s, 0..1
    psi_full_avg10: float | None = None


@dataclass(frozen=True, slots=True)
class PressurePolicy:
    """Budget and thresholds; ratios are of the budget (RSS) or of the cgroup limit.

    `budget_bytes` 0 means "budget_fraction of the smallest memory limit that
    applies" (see :func:`resolve_budget`). A PSI threshold of 0 turns that signal off.
    """

    budget_bytes: int = 0
    budget_fraction: float = 0.8
    soft_ratio: float = 0.80
    hard_ratio: float = 0.95
    relief_ratio: float = 0.70
    soft_evict_min_fraction: float = 0.25
    psi_some_soft_ratio: float = 0.10
    psi_full_hard_ratio: float = 0.10
    trim_heap: bool = True  # malloc_trim after an eviction, so RSS falls (monitor/heap.py)

    def __post_init__(self) -> None:
        if self.budget_bytes < 0:
            raise ValueError(f"budget_bytes must be >= 0, got {self.budget_bytes}")
        if not 0 < self.budget_fraction <= 1:
            raise ValueError(f"budget_fraction must be in (0, 1], got {self.budget_fraction}")
        check_ratios(self.relief_ratio, self.soft_ratio, self.hard_ratio)
        if not 0 <= self.soft_evict_min_fraction <= 1:
            raise ValueError("soft_evict_min_fraction must be in [0, 1]")


@dataclass(frozen=True, slots=True)
class Budget:
    bytes: int
    source: BudgetSource


@dataclass(frozen=True, slots=True)
class Pressure:
    level: Level
    signal: Signal  # the signal that set the level; "" at NONE
    excess_bytes: int  # usage above the relief target (relief_ratio), never negative


def resolve_budget(
    policy: PressurePolicy,
    cgroup_max_bytes: int | None,
    host_bytes: int,
    declared_bytes: int | None = None,
) -> Budget:
    """The configured budget; else `budget_fraction` of the smallest limit that
    applies: the cgroup's, the one declared in the environment
    (TICKSMITH_MEMORY_LIMIT_BYTES), host memory. On a tie the cgroup names it."""
    if policy.budget_bytes > 0:
        return Budget(policy.budget_bytes, "configured")
    limits: list[tuple[int | None, BudgetSource]] = [
        (cgroup_max_bytes, "cgroup"),
        (declared_bytes, "environment"),
        (host_bytes, "host"),
    ]
    limit, source = min(((n, s) for n, s in limits if n is not None), key=lambda p: p[0])
    return Budget(int(limit * policy.budget_fraction), source)


def assess(sample: MemorySample, budget: Budget, policy: PressurePolicy) -> Pressure:
    """The highest level any signal reaches; ties go to the first signal checked."""
    found = [pair for pair in _signal_levels(sample, budget, policy) if pair[1]]
    signal, level = max(found, key=lambda pair: pair[1], default=("", Level.NONE))
    return Pressure(level, signal, _excess_bytes(sample, budget, policy))


def soft_target_bytes(strong_bytes: int, excess_bytes: int, min_fraction: float) -> int:
    """Strong bytes to keep: shed the excess, and at least `min_fraction` of the tier
    (a PSI signal has no byte excess, and freed bytes do not all return to the OS)."""
    floor_shed = math.ceil(strong_bytes * min_fraction)
    return max(0, strong_bytes - max(excess_bytes, floor_shed))


class Evictable(Protocol):
    """What the monitor can shrink: the proxy cache's strong tier."""

    @property
    def strong_bytes(self) -> int: ...

    def evict_to(self, target_bytes: int, reason: str = ...) -> int: ...


def relieve(
    pressure: Pressure,
    previous: Level,
    cache: Evictable,
    policy: PressurePolicy,
    collect: Callable[[], object] = gc.collect,
    trim: Callable[[], object] = heap.trim,
) -> int:
    """Act on a level; return the number of entries evicted.

    HARD collects when it evicted something or is newly reached, not on every sample
    while it lasts: a full collection of a large heap blocks the event loop. After
    an eviction the freed heap is given back to the kernel (``policy.trim_heap``).
    """
    evicted = 0
    if pressure.level is Level.SOFT:
        target = soft_target_bytes(
            cache.strong_bytes, pressure.excess_bytes, policy.soft_evict_min_fraction
        )
        evicted = cache.evict_to(target, reason="pressure_soft")
    elif pressure.level is Level.HARD:
        evicted = cache.evict_to(0, reason="pressure_hard")
        if evicted or previous is not Level.HARD:
            collect()
    if evicted and policy.trim_heap:
        trim()
    return evicted


def _level_of(ratio: float, soft: float, hard: float) -> Level:
    if ratio >= hard:
        return Level.HARD
    return Level.SOFT if ratio >= soft else Level.NONE


def _signal_levels(
    sample: MemorySample, budget: Budget, policy: PressurePolicy
) -> list[tuple[Signal, Level]]:
    soft, hard = policy.soft_ratio, policy.hard_ratio
    found: list[tuple[Signal, Level]] = []
    if budget.bytes > 0:
        found.append(("rss", _level_of(sample.rss_bytes / budget.bytes, soft, hard)))
    used, limit = sample.cgroup_working_set_bytes, sample.cgroup_max_bytes
    if used is not None and limit:
        found.append(("cgroup", _level_of(used / limit, soft, hard)))
    if policy.psi_full_hard_ratio and (sample.psi_full_avg10 or 0) >= policy.psi_full_hard_ratio:
        found.append(("psi_full", Level.HARD))
    if policy.psi_some_soft_ratio and (sample.psi_some_avg10 or 0) >= policy.psi_some_soft_ratio:
        found.append(("psi_some", Level.SOFT))
    return found


def _excess_bytes(sample: MemorySample, budget: Budget, policy: PressurePolicy) -> int:
    excess = sample.rss_bytes - int(budget.bytes * policy.relief_ratio)
    used, limit = sample.cgroup_working_set_bytes, sample.cgroup_max_bytes
    if used is not None and limit:
        excess = max(excess, used - int(limit * policy.relief_ratio))
    return max(0, excess)
