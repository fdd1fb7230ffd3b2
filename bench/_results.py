"""bench/RESULTS.md: each benchmark rewrites only its own `## <name>` section."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"


def write_section(heading: str, text: str, results: Path = RESULTS) -> None:
    """Replace the section under `heading` (or append it); read just before writing,
    since other benchmarks write their sections too."""
    old = results.read_text() if results.exists() else "# Benchmark results\n"
    lines = old.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if ln.rstrip() == heading), None)
    if start is None:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        tail = "".join(lines[end:])
        new = "".join(lines[:start]) + text + ("\n" + tail if tail else "")
    results.write_text(new)


def revision() -> str:
    """The commit measured, and whether the work tree had uncommitted changes."""
    git = ["git", "--no-optional-locks", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain", "service"], capture_output=True)
    changes = " plus uncommitted changes under service/" if dirty.stdout.strip() else ""
    return f"{head.stdout.strip() or 'unknown'}{changes}"


def machine() -> str:
    """Cores, CPU model, memory, kernel and Python, for a section's header."""
    model = ""
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            lines = (ln for ln in f if ln.startswith("model name"))
            model = next((ln.split(":", 1)[1].strip() for ln in lines), "")
    return (
        f"{os.cpu_count()} cores ({model or platform.machine()}), "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


@dataclass(frozen=True)
class Spread:
    """A figure over repeated runs: median and range."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values))

    def show(self, spec: str, unit: str = "") -> str:
        """Median, unit, then (low-high): e.g. spec ".1f" and unit "x" give 19.6x (16.3-31.4),
        with an en dash for the hyphen."""
        return f"{self.median:{spec}}{unit} ({self.low:{spec}}\N{EN DASH}{self.high:{spec}})"
