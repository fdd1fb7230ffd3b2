"""bench/memory.py's report: the table, the sentences and the part table of its generated
block in bench/RESULTS.md, and its RESULT line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from _memory_soak import MiB, Run, quantile
from _results import command, machine, revision

TIMES = "\N{MULTIPLICATION SIGN}"


@dataclass(frozen=True)
class Outcome:
    proxy: Run
    strong: Run
    elapsed_s: float
    load: str
    parts: dict[str, float] | None = None

    @property
    def budget(self) -> int:
        return self.proxy.plan.budget_mib * MiB

    @property
    def within(self) -> bool:
        return self.proxy.peak_rss <= 1.1 * self.budget

    def result_line(self) -> str:
        p, s = self.proxy, self.strong
        budget = p.plan.budget_mib
        peak = p.peak_rss / MiB
        stale = p.delta_by("ticksmith_cache_recomputes_total", "trigger").get("stale", 0.0)
        return (
            f"RESULT memory budget_mib={budget} peak_rss_mib={peak:.1f}"
            f" peak_ratio={peak / budget:.3f} strong_peak_rss_mib={s.peak_rss / MiB:.1f}"
            f" evictions_per_min={p.per_min('ticksmith_cache_evictions_total'):.1f}"
            f" recomputes_per_min={p.per_min('ticksmith_cache_recomputes_total'):.1f}"
            f" read_p50_ms={quantile(p.latencies('hot'), 0.5):.2f}"
            f" read_p99_ms={quantile(p.latencies('hot'), 0.99):.2f}"
            f" read_cold_p99_ms={quantile(p.latencies('cold'), 0.99):.2f}"
            f" stale_recomputes={stale:.0f}"
            f" cpu_s={p.cpu_s:.0f} strong_cpu_s={s.cpu_s:.0f}"
            f" reads_per_s={_reads_per_s(p):.0f}"
            f" symbols={p.plan.symbols} minutes={p.minutes:.2f}"
        )


def fmt_mib(n: float) -> str:
    return f"{n / MiB:,.1f}"


def fmt_by(d: dict[str, float], minutes: float) -> str:
    if not d:
        return "0"
    return ", ".join(f"{k or '-'} {v / minutes:,.1f}" for k, v in d.items())


def rows(o: Outcome) -> list[tuple[str, str, str]]:
    p, s = o.proxy, o.strong
    out: list[tuple[str, str, str]] = []

    def add(name: str, f: object) -> None:
        out.append((name, f(p), f(s)))  # type: ignore[operator]

    budget = p.plan.budget_mib * MiB
    add("streamed (min)", lambda r: f"{r.minutes:.2f}" + (" (killed at the RSS cap)" * r.capped))
    add("ticks produced / consumed", lambda r: f"{r.produced:,} / {_consumed(r):,.0f}")
    add("max consumer lag (records)", lambda r: f"{max_lag(r):,.0f}")
    add("**peak RSS (MiB)**", lambda r: f"**{fmt_mib(r.peak_rss)}**")
    add("peak RSS / 512 MiB budget", lambda r: f"{r.peak_rss / budget:.3f}")
    add("RSS idle, before ticks (MiB)", lambda r: fmt_mib(r.idle_rss))
    add(
        "RSS at 25 / 50 / 75 / 100 % (MiB)",
        lambda r: " / ".join(fmt_mib(r.rss_at(f)) for f in (0.25, 0.5, 0.75, 1.0)),
    )
    add("store bytes at end (MiB)", lambda r: fmt_mib(r.last.total("ticksmith_store_bytes")))
    add("cache bytes, peak / end (MiB)", lambda r: _cache_bytes(r))
    add("cache entries at end", lambda r: f"{r.last.total('ticksmith_cache_entries'):,.0f}")
    add("evictions / min", lambda r: f"{r.per_min('ticksmith_cache_evictions_total'):,.1f}")
    add(
        "  by reason / min",
        lambda r: fmt_by(r.delta_by("ticksmith_cache_evictions_total", "reason"), r.minutes),
    )
    add("recomputes / min", lambda r: f"{r.per_min('ticksmith_cache_recomputes_total'):,.1f}")
    add(
        "  by trigger / min",
        lambda r: fmt_by(r.delta_by("ticksmith_cache_recomputes_total", "trigger"), r.minutes),
    )
    add("cache hits / misses", lambda r: _hits(r))
    add("pressure transitions (log)", lambda r: _transitions(r))
    add("reads: pairs, rate", lambda r: _read_rate(r))
    for kind, label in (("hot", "hot read (no recompute)"), ("cold", "cold read (recompute)")):
        add(f"{label} p50 / p99 ms", lambda r, k=kind: _pq(r.latencies(k)))
    add("all reads p50 / p99 ms", lambda r: _pq(r.latencies()))
    add("service CPU (% of one core)", lambda r: f"{100 * r.cpu_s / r.streamed_s:.0f}")
    return out


def _consumed(r: Run) -> float:
    return r.last.total("ticksmith_ticks_consumed_total")


def max_lag(r: Run) -> float:
    return max(s.total("ticksmith_consumer_lag_messages") for s in r.scrapes)


def _cache_bytes(r: Run) -> str:
    peak, end = r.peak("ticksmith_cache_bytes"), r.last.total("ticksmith_cache_bytes")
    return f"{fmt_mib(peak)} / {fmt_mib(end)}"


def _hits(r: Run) -> str:
    hits, misses = r.delta("ticksmith_cache_hits_total"), r.delta("ticksmith_cache_misses_total")
    hot, cold = len(r.latencies("hot")), len(r.latencies("cold"))
    return f"{hits:,.0f} / {misses:,.0f} (hot reads {hot:,}, cold reads {cold:,})"


def _transitions(r: Run) -> str:
    ups = [ln for ln in r.transitions if "WARNING" in ln]
    return f"{len(ups)} rises, {len(r.transitions) - len(ups)} falls"


def _reads_per_s(r: Run) -> float:
    """Reads (hot and cold) per second over the reading window."""
    window = (r.reads[-1].at - r.reads[0].at) if len(r.reads) > 1 else 0
    return len(r.reads) / window if window else 0.0


def _read_rate(r: Run) -> str:
    ok = r.latencies()
    bad = len(r.reads) - len(ok)
    window = (r.reads[-1].at - r.reads[0].at) if len(r.reads) > 1 else 0
    rate = len(ok) / window if window else 0
    return f"{len(ok) // 2:,} pairs, {rate:.1f} req/s" + (f", {bad} not 200" if bad else "")


def _pq(values: list[float]) -> str:
    return f"{quantile(values, 0.5):.1f} / {quantile(values, 0.99):.1f}"


def table(o: Outcome) -> str:
    head = "| | proxy cache | strong cache (eviction off) |\n|---|---|---|"
    return head + "\n" + "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows(o))


def parts_table(parts: dict[str, float]) -> str:
    m = {k: v / MiB for k, v in parts.items() if k.startswith(("rss", "store_nbytes", "ind"))}
    store_phase = m["rss_store"] - m["rss_import"]
    other = store_phase - m["store_nbytes"] - m["indicator_state_bytes"]
    per_frame, deep = parts["cache_rss_per_frame"], parts["cache_deep_per_frame"]
    frames = (
        f"{parts['frames']:,.0f} indicator frames held ({parts['frame_rows']:.0f} rows,"
        f" {parts['frame_blocks']:.0f} blocks each): RSS growth"
    )
    lines = [
        ("interpreter and libraries (`import ticksmith.app`)", m["rss_import"]),
        ("store phase: RSS growth", store_phase),
        ("of which `Store.nbytes` (= `ticksmith_store_bytes`)", m["store_nbytes"]),
        ("of which indicator engine state (in no metric)", m["indicator_state_bytes"]),
        ("of which the rest: per-symbol objects, freed ring buffers, transients", other),
        (
            "given back by `malloc_trim(0)` after the store phase",
            m["rss_store"] - m["rss_store_trimmed"],
        ),
        (frames, m["rss_cache"] - m["rss_store_trimmed"]),
        (
            "the same frames as `deep_nbytes` counts them (`ticksmith_cache_bytes`)",
            deep * parts["frames"] / MiB,
        ),
        ("RSS change after `evict_to(0)` and `gc.collect()`", m["rss_evicted"] - m["rss_cache"]),
        ("RSS change after `malloc_trim(0)`", m["rss_evicted_trimmed"] - m["rss_evicted"]),
    ]
    body = "\n".join(f"| {name} | {value:,.1f} |" for name, value in lines)
    return f"""| part | MiB |
|---|---|
{body}

Per frame: {per_frame / 1024:.1f} KiB of RSS, {parts["traced_per_frame"] / 1024:.1f} KiB seen by
tracemalloc, {deep / 1024:.1f} KiB counted by `deep_nbytes` ({per_frame / deep:.1f}{TIMES} under).
Store phase CPU: {parts["store_cpu_s_per_s"]:.2f} s per second of ticks (apply, indicators,
output records encoded; no Kafka)."""


def first_soft(r: Run) -> str:
    """What the first soft eviction did to RSS, from the service's own log lines."""
    pattern = re.compile(r"rss (\d+) of budget .* evicted (\d+) cache entries")
    rises = [(i, ln) for i, ln in enumerate(r.transitions) if "-> soft" in ln]
    if not rises:
        return "The monitor never left level none."
    i, line = rises[0]
    found = pattern.search(line)
    after = pattern.search(r.transitions[i + 1]) if i + 1 < len(r.transitions) else None
    if not found:
        return ""
    text = (
        f"The first soft level (RSS {int(found[1]) / MiB:.1f} MiB) evicted {int(found[2]):,}"
        " entries"
    )
    if after:
        text += f"; when it fell back to none, RSS was {int(after[1]) / MiB:.1f} MiB"
    return text + "."


def misread(r: Run) -> str:
    """Hot reads that recomputed after all: misses beyond one per cold read."""
    extra = r.delta("ticksmith_cache_misses_total") - len(r.latencies("cold"))
    hot = len(r.latencies("hot"))
    return f"{max(0, extra):,.0f} of {hot:,} ({100 * max(0, extra) / hot:.1f} %)" if hot else "-"


def generated(o: Outcome) -> str:
    """This run's part of the section; the method is described by hand around it."""
    p, st = o.proxy, o.strong
    plan = p.plan
    answer = "**yes**" if o.within else "**no**"
    parts = f"\n\n{parts_table(o.parts)}" if o.parts else ""
    return f"""\
- command: `{command("bench/memory.py", ".venv/bin/python")}` (or `make bench-memory`)
- when: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {o.elapsed_s / 60:.1f} min in all
- service: {revision()}
- machine: {machine()}
- load average (1, 5, 15 min): {o.load}
- settings: {plan.symbols:,} symbols at {plan.rate:,} ticks/s for {plan.seconds:.0f} s,\
 {plan.batch_size} ticks per record;
  `window.ticks_per_symbol={plan.ticks_per_symbol}`, `bars.history_bars={plan.history_bars}`,\
 `bars.intervals_ms=[{plan.interval_ms}]`;
  budget {plan.budget_mib} MiB, the proxy run's cache {plan.cache_mib} MiB; readers at most\
 {plan.read_rate:g} pairs a second, {plan.readers} in flight
- hot reads that recomputed after all were {misread(p)} in the proxy run and {misread(st)}\
 in the strong run.

{table(o)}

Does the proxy run's peak RSS stay within 1.1 {TIMES} the budget ({1.1 * plan.budget_mib:.0f} MiB)?
{answer}: {fmt_mib(p.peak_rss)} MiB, {p.peak_rss / o.budget:.3f} {TIMES} the budget. The strong
run {strong_note(o)}.{growth(o)}

{who_evicted(p)} {first_soft(p)}{parts}

```
{o.result_line()}
```
"""


def strong_note(o: Outcome) -> str:
    st = o.strong
    if st.capped:
        return f"was killed at the {st.plan.cap_mib:,} MiB safety cap"
    note = f"peaked at {fmt_mib(st.peak_rss)} MiB, {st.peak_rss / o.budget:.3f} {TIMES} the budget"
    return note + (", at the very end of the run" if st.peak_rss == st.rss_at(1.0) else "")


def growth(o: Outcome) -> str:
    """How much more the strong run held at the end, per 1,000 frames."""
    p, st = o.proxy, o.strong
    extra_rss = st.rss_at(1.0) - p.rss_at(1.0)
    entries = "ticksmith_cache_entries"
    extra_frames = st.last.total(entries) - p.last.total(entries)
    if extra_frames <= 0 or extra_rss <= 0:
        return ""
    return (
        f" At the end it held {extra_frames:,.0f} more frames than the proxy run and"
        f" {fmt_mib(extra_rss)} MiB more RSS, about {extra_rss / MiB / extra_frames * 1000:.0f}"
        " MiB per 1,000 frames: it keeps growing by that much for every 1,000 further symbols"
        f" read, bounded only by symbols {TIMES} frame size, while the proxy run stayed flat."
    )


def who_evicted(p: Run) -> str:
    """The cache's own budget or the monitor's soft level: which did the evicting."""
    plan = p.plan
    by_reason = p.delta_by("ticksmith_cache_evictions_total", "reason")
    if not by_reason.get("budget"):
        return (
            f"The cache never reached its own {plan.cache_mib} MiB budget (no `budget` evictions):"
            f" the monitor's soft level (RSS at {0.8 * plan.budget_mib:.0f} MiB) did all the"
            " evicting."
        )
    pressure = sum(v for k, v in by_reason.items() if k.startswith("pressure"))
    return (
        f"The cache's own {plan.cache_mib} MiB budget evicted"
        f" {by_reason['budget'] / p.minutes:,.0f} entries a minute, the monitor"
        f" {pressure / p.minutes:,.0f}."
    )


def summary(r: Run) -> str:
    return (
        f"  peak RSS {fmt_mib(r.peak_rss)} MiB (idle {fmt_mib(r.idle_rss)}), store "
        f"{fmt_mib(r.last.total('ticksmith_store_bytes'))} MiB, cache peak "
        f"{fmt_mib(r.peak('ticksmith_cache_bytes'))} MiB, evictions/min "
        f"{r.per_min('ticksmith_cache_evictions_total'):.1f}, recomputes/min "
        f"{r.per_min('ticksmith_cache_recomputes_total'):.1f}, hot p50/p99 "
        f"{_pq(r.latencies('hot'))} ms, cold {_pq(r.latencies('cold'))} ms, "
        f"{len(r.reads)} reads, lag max {max_lag(r):,.0f}, cpu {r.cpu_s:.0f}s"
        + (" CAPPED" if r.capped else "")
    )
