"""What one memory-monitor sample costs, and what the GC callback adds to a collection.

- ``sample``: ``MemoryProbe.discover().sample()`` on this machine's own files;
- ``step``: one full ``Monitor.step()`` (sample, budget, level, act, export) on them;
- ``step_cgroup``: the same over a fake cgroup v2 with every file present
  (memory.current, .max up two levels, .stat, .pressure), as in a container;
- ``gc0`` / ``gc0_cb``: ``gc.collect(0)`` without and with the GC callback installed
  (the callback's cost is their difference).

Each case is timed with timeit after a warm-up round; the with/without pair
alternates within every round. Figures are µs per call: median and min-max over
rounds. The last line is ``RESULT monitor ...`` with plain numbers: medians, and
``_best`` for the fastest round (least disturbed by other load on a shared
machine). The load average is printed before and after.

    .venv/bin/python bench/monitor.py [--rounds 21] [--target-ms 10]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry

from _timing import alternating
from ticksmith.metrics import MemoryMetrics
from ticksmith.monitor.gc_stats import GCStats
from ticksmith.monitor.memory import MemoryProbe, Monitor
from ticksmith.monitor.pressure import PressurePolicy

MiB = 1024 * 1024


class EmptyCache:
    strong_bytes = 0

    def evict_to(self, target_bytes: int, reason: str = "pressure") -> int:
        return 0


def monitor(probe: MemoryProbe) -> Monitor:
    stats = GCStats()
    metrics = MemoryMetrics(CollectorRegistry(), stats)
    return Monitor(probe, EmptyCache(), metrics, stats, PressurePolicy(), interval_ms=1_000)


def fake_container(root: Path) -> MemoryProbe:
    """A /proc and a cgroup2 mount with every file the probe reads."""
    files = {
        "proc/self/cgroup": "0::/kubepods/pod/app\n",
        "proc/self/mountinfo": f"30 22 0:26 / {root}/cgroup rw - cgroup2 cgroup2 rw\n",
        "proc/self/statm": Path("/proc/self/statm").read_text(),
        "cgroup/kubepods/pod/app/memory.current": f"{300 * MiB}\n",
        "cgroup/kubepods/pod/app/memory.max": "max\n",
        "cgroup/kubepods/pod/memory.max": f"{1024 * MiB}\n",
        "cgroup/kubepods/memory.max": "max\n",
        "cgroup/kubepods/pod/app/memory.stat": _memory_stat(),
        "cgroup/kubepods/pod/app/memory.pressure": (
            "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
        ),
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return MemoryProbe.discover(root / "proc")


def _memory_stat() -> str:
    """A memory.stat of the real size and shape (about 40 lines)."""
    names = ["anon", "file", "kernel", "kernel_stack", "pagetables", "sec_pagetables"]
    names += ["percpu", "sock", "vmalloc", "shmem", "zswap", "zswapped", "file_mapped"]
    names += ["file_dirty", "file_writeback", "swapcached", "anon_thp", "file_thp"]
    names += ["shmem_thp", "inactive_anon", "active_anon", "inactive_file", "active_file"]
    names += ["unevictable", "slab_reclaimable", "slab_unreclaimable", "slab", "pgfault"]
    names += ["pgmajfault", "pgrefill", "pgscan", "pgsteal", "pgactivate", "pgdeactivate"]
    return "".join(f"{name} {i * 4096}\n" for i, name in enumerate(names))


def rounds_of(
    cases: dict[str, Callable[[], object]], rounds: int, target_s: float
) -> dict[str, list[float]]:
    """µs per call for each case, alternating order, after one warm-up round."""
    timers = {name: timeit.Timer(fn) for name, fn in cases.items()}
    return alternating(timers, rounds, target_s, 1e-6)


def gc_cases() -> dict[str, Callable[[], object]]:
    stats = GCStats()

    def plain() -> object:
        return gc.collect(0)

    def with_callback() -> object:
        gc.callbacks.append(stats.callback)
        try:
            return gc.collect(0)
        finally:
            gc.callbacks.remove(stats.callback)

    def bare_toggle() -> object:  # the append/remove alone, to subtract
        gc.callbacks.append(stats.callback)
        gc.callbacks.remove(stats.callback)
        return None

    return {"gc0": plain, "gc0_cb": with_callback, "cb_toggle": bare_toggle}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--target-ms", type=float, default=10.0)
    args = parser.parse_args()
    real = MemoryProbe.discover()
    print(f"this machine: cgroup {real.cgroup}, PSI from {real.psi_path}")
    print(f"sample: {real.sample()}")
    print(f"load average before: {_load()}")
    with tempfile.TemporaryDirectory() as tmp:
        container = fake_container(Path(tmp))
        cases: dict[str, Callable[[], object]] = {
            "sample": real.sample,
            "step": monitor(real).step,
            "step_cgroup": monitor(container).step,
            **gc_cases(),
        }
        found = rounds_of(cases, args.rounds, args.target_ms / 1000)
    print(f"load average after: {_load()}")
    med = {name: statistics.median(us) for name, us in found.items()}
    best = {name: min(us) for name, us in found.items()}
    print(f"{'case':<12} {'median us':>10} {'min-max us':>18}")
    for name, us in found.items():
        print(f"{name:<12} {med[name]:>10.2f} {f'{min(us):.2f}-{max(us):.2f}':>18}")
    fields = [f"rounds={args.rounds}"]
    for name in ("sample", "step", "step_cgroup"):
        fields.append(f"{name}_us={med[name]:.1f} {name}_us_best={best[name]:.1f}")
    fields.append(f"gc0_collect_us={med['gc0']:.2f}")
    fields.append(f"gc_callback_us={med['gc0_cb'] - med['gc0'] - med['cb_toggle']:.2f}")
    fields.append(f"gc_callback_us_best={best['gc0_cb'] - best['gc0'] - best['cb_toggle']:.2f}")
    print("RESULT monitor " + " ".join(fields))


def _load() -> str:
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


if __name__ == "__main__":
    main()
