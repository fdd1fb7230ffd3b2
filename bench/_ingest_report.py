"""bench/ingest.py's report: the tables and goals of its generated block in
bench/RESULTS.md, and its RESULT line."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from _broker import Filled
from _ingest_drain import Pair
from _ingest_workers import WorkersRun
from _results import Spread, command, machine

GOAL_RATIO = {"json": 0.6, "binary": 0.8}
GOAL_BATCH_TICKS_PER_S = 2_000_000


@dataclass(frozen=True)
class Outcome:
    name: str
    ticks: int
    records: int
    ratio: Spread
    ceiling: Spread
    candidate: Spread

    @classmethod
    def of(cls, name: str, filled: Filled, pairs: list[Pair]) -> Outcome:
        return cls(
            name,
            filled.ticks,
            filled.records,
            Spread.of([p.ratio for p in pairs]),
            Spread.of([p.ceiling for p in pairs]),
            Spread.of([p.candidate for p in pairs]),
        )

    def row(self) -> str:
        cells = [
            self.name,
            f"{self.ticks:,}",
            f"{self.records:,}",
            self.ratio.show(".3f"),
            self.candidate.show(",.0f"),
            self.ceiling.show(",.0f"),
        ]
        return "| " + " | ".join(cells) + " |"


TABLE_HEAD = """\
| workload | ticks | records | candidate / ceiling | candidate ticks/s | ceiling ticks/s |
|---|---|---|---|---|---|"""


def goals(outcomes: dict[str, Outcome]) -> list[tuple[str, bool]]:
    ratios = []
    for name, goal in GOAL_RATIO.items():
        got = outcomes[name].ratio.median
        ratios.append((f"{name} >= {goal} of ceiling (median {got:.3f})", got >= goal))
    batch = outcomes["batch"].candidate.median
    speed = f"batch >= {GOAL_BATCH_TICKS_PER_S:,} ticks/s in one process (median {batch:,.0f})"
    return [*ratios, (speed, batch >= GOAL_BATCH_TICKS_PER_S)]


def result_line(outcomes: dict[str, Outcome], gain: Spread) -> str:
    o = outcomes
    return (
        f"RESULT ingest json_ratio={o['json'].ratio.median:.3f}"
        f" binary_ratio={o['binary'].ratio.median:.3f}"
        f" batch_ratio={o['batch'].ratio.median:.3f}"
        f" batch_ticks_per_s={o['batch'].candidate.median:.0f}"
        f" json_ticks_per_s={o['json'].candidate.median:.0f}"
        f" binary_ticks_per_s={o['binary'].candidate.median:.0f}"
        f" workers2_gain={gain.median:.3f}"
    )


def pairs(n: int) -> str:
    return "1 pair" if n == 1 else f"{n} alternating pairs"


@dataclass(frozen=True)
class Report:
    outcomes: dict[str, Outcome]
    pairs: int
    workers: list[tuple[WorkersRun, WorkersRun]]
    elapsed_s: float
    revision: str
    load: str  # load averages at the start and the end

    @property
    def gain(self) -> Spread:
        return Spread.of([two.window.rate / one.window.rate for one, two in self.workers])

    def generated(self) -> str:
        """This run's part of the section; the method is described by hand around it."""
        rate = [Spread.of([pair[n].window.rate for pair in self.workers]) for n in (0, 1)]
        cpu = [Spread.of([pair[n].cpu_us_per_tick for pair in self.workers]) for n in (0, 1)]
        rows = "\n".join(o.row() for o in self.outcomes.values())
        met = "\n".join(f"- {'met' if ok else 'NOT met'}: {t}" for t, ok in goals(self.outcomes))
        return f"""\
- command: `{command("bench/ingest.py")}` (or `make bench-ingest`)
- when: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {self.elapsed_s / 60:.1f} min
- service: {self.revision}
- machine: {machine()}
- load average (1, 5, 15 min): {self.load}

{TABLE_HEAD}
{rows}

Goals:
{met}

Workers, {pairs(len(self.workers))}:

| workers | ticks/s | workers' CPU µs per tick |
|---|---|---|
| 1 | {rate[0].show(",.0f")} | {cpu[0].show(".2f")} |
| 2 | {rate[1].show(",.0f")} | {cpu[1].show(".2f")} |

Gain, 2 workers over 1: {self.gain.show(".3f")}.

```
{result_line(self.outcomes, self.gain)}
```
"""
