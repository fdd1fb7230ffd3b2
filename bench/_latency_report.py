"""bench/latency.py's report: the tables, goals and notes of its generated block in
bench/RESULTS.md, and its RESULT line."""

from __future__ import annotations

import math
import os
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime

from _latency_level import BATCH_SECONDS, GC_PAUSE, Level, Plan
from _results import command, machine, revision

GOAL_P99_MS = 50.0  # at 50 %
GOAL_LOOP_LAG_P99_MS = 10.0  # at 50 %
LE = "\N{LESS-THAN OR EQUAL TO}"


def ms(value: float, spec: str = ".1f") -> str:
    return "-" if math.isnan(value) else f"{value:{spec}}"


def bound(value_ms: float) -> str:
    """A bucket's upper bound, as the quantile it holds is at or below it."""
    return "-" if math.isnan(value_ms) else f"{LE} {value_ms:g}"


LATENCY_HEAD = """\
| level | target ticks/s | sent ticks/s | bars | p50 ms | p99 ms | p99.9 ms | max ms | \
Kafka hop p50 / p99 ms | p99 / hop p99 | loop lag p99 ms | reads | read p50 / p99 ms | \
read p99, repeat reads ms |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"""

LOAD_HEAD = """\
| level | CPU %: service / producer / broker / others | CPU µs per tick: service / producer | \
records per batch | batch mean ms | batch p99 ms | loop lag max ms | longest GC pause ms | \
producer's longest wait ms | bars without output |
|---|---|---|---|---|---|---|---|---|---|"""


def latency_row(v: Level) -> str:
    cells = [
        f"{v.pct} %",
        f"{v.target:,.0f}",
        f"{v.sent_rate:,.0f}",
        f"{len(v.latencies_ms):,}",
        ms(v.latency(0.5), ".0f"),
        ms(v.latency(0.99), ".0f"),
        ms(v.latency(0.999), ".0f"),
        ms(float(v.latencies_ms.max()) if len(v.latencies_ms) else math.nan, ".0f"),
        f"{ms(v.hop(0.5), '.0f')} / {ms(v.hop(0.99), '.0f')}",
        ms(v.latency(0.99) / v.hop(0.99) if v.hop(0.99) else math.nan, ".1f"),
        bound(v.loop_lag_ms()),
        f"{len(v.window.reads):,}" + (f" ({v.bad_reads} not 200)" if v.bad_reads else ""),
        f"{ms(v.reads_ms(0.5))} / {ms(v.reads_ms(0.99))}",
        ms(v.reads_ms(0.99, first=False)),
    ]
    return "| " + " | ".join(cells) + " |"


def load_row(v: Level) -> str:
    cells = [
        f"{v.pct} %",
        " / ".join(ms(v.cpu_pct(k), ".0f") for k in ("service", "producer", "broker", "others")),
        " / ".join(ms(v.cpu_us_per_tick(name), ".2f") for name in ("service", "producer")),
        ms(v.records_per_batch, ",.0f"),
        ms(v.batch_mean_ms),
        bound(v.bucket_ms(BATCH_SECONDS, 0.99)),
        bound(v.loop_lag_ms(1.0)),
        bound(v.bucket_ms(GC_PAUSE, 1.0)),
        ms(v.paced.largest_gap_ms, ".0f"),
        f"{v.missing:,}",
    ]
    return "| " + " | ".join(cells) + " |"


def tables(levels: list[Level]) -> str:
    return (
        f"{LATENCY_HEAD}\n"
        + "\n".join(map(latency_row, levels))
        + f"\n\n{LOAD_HEAD}\n"
        + "\n".join(map(load_row, levels))
    )


def goals(levels: list[Level]) -> list[tuple[str, bool]]:
    half = next(v for v in levels if v.pct == 50)
    p99, lag = half.latency(0.99), half.loop_lag_ms()
    return [
        (f"p99 at 50 % {LE} {GOAL_P99_MS:g} ms (measured {ms(p99, '.0f')} ms)", p99 <= GOAL_P99_MS),
        (
            f"event-loop lag p99 at 50 % {LE} {GOAL_LOOP_LAG_P99_MS:g} ms (measured: in the"
            f" bucket up to {ms(lag, 'g')} ms)",
            lag <= GOAL_LOOP_LAG_P99_MS,
        ),
    ]


def notes(levels: list[Level]) -> str:
    half = next(v for v in levels if v.pct == 50)
    out = [
        f"- The way in alone (the Kafka hop) at 50 %: p50 {ms(half.hop(0.5), '.0f')} ms,"
        f" p99 {ms(half.hop(0.99), '.0f')} ms; the service's p50 is"
        f" {ms(half.latency(0.5) - half.hop(0.5), '.0f')} ms above it.",
        f"- Per tick, the paced producer costs {ms(half.cpu_us_per_tick('producer'), '.2f')} µs"
        f" of CPU and the service {ms(half.cpu_us_per_tick('service'), '.2f')} µs (at 50 %):"
        f" on these {os.cpu_count()} cores the producer and the broker take about as much CPU"
        " as the service, which had the cores nearly to itself when its maximum was measured.",
    ]
    for v in levels:
        if v.sent_rate < 0.98 * v.target:
            out.append(
                f"- At {v.pct} % the producer sent {v.sent_rate / v.target:.1%} of the target"
                f" and a due tick waited up to {v.paced.largest_gap_ms:,.0f} ms for its send:"
                " the cores were saturated, so that level measures a machine out of CPU."
            )
    return "\n".join(out)


def result_line(max_rate: float, levels: list[Level]) -> str:
    fields = [f"max_ticks_per_s={max_rate:.0f}"]
    for v in levels:
        fields += [
            f"p50_ms_at_{v.pct}={ms(v.latency(0.5), '.0f')}",
            f"p99_ms_at_{v.pct}={ms(v.latency(0.99), '.0f')}",
            f"p999_ms_at_{v.pct}={ms(v.latency(0.999), '.0f')}",
            f"loop_lag_p99_ms_at_{v.pct}={ms(v.loop_lag_ms(), 'g')}",
            f"read_p50_ms_at_{v.pct}={ms(v.reads_ms(0.5))}",
            f"read_p99_ms_at_{v.pct}={ms(v.reads_ms(0.99))}",
            f"hop_p99_ms_at_{v.pct}={ms(v.hop(0.99), '.0f')}",
            f"sent_ratio_at_{v.pct}={v.sent_rate / v.target:.3f}",
        ]
    return "RESULT latency " + " ".join(fields)


def times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


@dataclass(frozen=True)
class Report:
    plan: Plan
    max_ticks: int
    drains: list[float]
    levels: list[Level]
    elapsed_s: float
    load: str
    revision: str = field(default_factory=revision)

    @property
    def max_rate(self) -> float:
        return statistics.median(self.drains)

    def generated(self) -> str:
        """This run's part of the section; the method is described by hand around it."""
        met = "\n".join(f"- {'met' if ok else '**not met**'}: {t}" for t, ok in goals(self.levels))
        drains = ", ".join(f"{r:,.0f}" for r in self.drains)
        return f"""\
- command: `{command("bench/latency.py")}` (or `make bench-latency`)
- when: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {self.elapsed_s / 60:.1f} min
- service: {self.revision}
- machine: {machine()}
- load average (1, 5, 15 min): {self.load}

Baseline: a backlog of {self.max_ticks:,} {self.plan.fmt} ticks drained\
 {times(len(self.drains))}: {drains} ticks/s. The maximum ingest rate, their median:
**{self.max_rate:,.0f} ticks/s**.

{tables(self.levels)}

Goals (at 50 %):
{met}

What the figures say:
{notes(self.levels)}

```
{result_line(self.max_rate, self.levels)}
```
"""
