"""The service's work at a bar boundary, in-process: decode, store, indicators, the
cache's feed and the output records, for every batch from the first that closes a
bar to the last, against the same work for batches that close none.

bench/latency.py measures latency through the broker, with the paced producer and
the broker on the same two cores, and its p99 moves by 2x between runs of the same
code. This isolates the part the service controls: with 1 s bars every symbol's bar
closes within a few batches of each second boundary, and the bars closed last wait
for all of that work. The service's parts (app.build_parts) run in this process on
JSON records built as the producer builds them (1,000 symbols, event time following
the rate); Kafka is left out.

- Baseline, in the same run: the mean cost of a batch that closes no bar, times the
  number of batches the boundary took (what those batches would cost with no close).
- Per boundary: the summed cost of its batches, by part; per closed bar; the longest
  step (the store applies a batch in steps of pipeline/batch.STEP_TICKS ticks, and
  the event loop runs between steps).

    python bench/boundary.py            (or: make bench-boundary)     (~1 min)

Ends with one `RESULT boundary ...` line and rewrites the generated block of the
`## boundary` section of bench/RESULTS.md (unless --no-write).
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import numpy as np
from aiokafka import ConsumerRecord
from prometheus_client import CollectorRegistry

from _results import command, machine, output_arguments, revision, write_generated
from ticksmith.app import _feed, build_parts
from ticksmith.cache.proxy_cache import Key
from ticksmith.config import MonitorSettings, Settings
from ticksmith.ingest.decode import decode
from ticksmith.kafka.ownership import partition_of
from ticksmith.monitor.gc_tuning import tuned_gc
from ticksmith.output import partitioned_records
from ticksmith.pipeline.batch import STEP_TICKS
from ticksmith.produce.market import Market, symbol_names
from ticksmith.produce.writer import encode_chunk

SYMBOLS = 1_000
INTERVAL_MS = 1_000  # bars.intervals_ms, the default
# the first seconds grow the store's buffers to their working size (one-off copies)
WARM_MS = 5_000
PARTS = ("decode", "store", "indicators", "feed", "records")


def records(market: Market, n: int, offset: int) -> list[ConsumerRecord[bytes, bytes]]:
    now_ms = time.time_ns() // 1_000_000
    pairs = encode_chunk(market.chunk(n), "json")
    return [
        ConsumerRecord("ticks", 0, offset + i, now_ms, 0, k, v, None, len(k), len(v), ())
        for i, (k, v) in enumerate(pairs)
    ]


def run(rate: float, batch_ms: float, seconds: int, step: int, held: int) -> dict[str, float]:
    monitor = MonitorSettings()  # the service's collector settings, start-up objects frozen
    with tuned_gc(monitor.gc_freeze, monitor.gc_threshold0):
        return _run(rate, batch_ms, seconds, step, held)


def _run(rate: float, batch_ms: float, seconds: int, step: int, held: int) -> dict[str, float]:
    _, store, worker, cache = build_parts(Settings(), CollectorRegistry())
    feed = partial(_feed, cache)
    names = symbol_names(SYMBOLS)
    where = {s: partition_of(s, 6) for s in names}
    start = time.time_ns() - (seconds + 5) * 1_000_000_000
    market = Market(names, seed=0, start_ns=start, spacing_ns=round(1e9 / rate))
    per_batch = round(rate * batch_ms / 1000)
    quiet: list[float] = []
    bursts: dict[int, list[float]] = {}  # second -> [parts..., closes, batches]
    steps: list[float] = []
    warm = round(WARM_MS / batch_ms)
    for i in range(round(seconds * 1000 / batch_ms)):
        if i == warm:  # readers asked for these: the cache holds their frames, fed each step
            for name in names[:held]:
                cache.get(Key(name, "indicators", INTERVAL_MS))
        batch = records(market, per_batch, i * per_batch)
        took = [0.0] * len(PARTS)
        t = time.perf_counter()
        ticks = decode(batch, 1 << 20, 3_600_000, None, min_event_time_ns=0).ticks
        took[0] = time.perf_counter() - t
        closes = 0
        for lo in range(0, len(ticks), step):
            t0 = time.perf_counter()
            result = store.apply(ticks.take(slice(lo, lo + step)))
            t1 = time.perf_counter()
            values = worker.update(result.closed, result.evicted)
            t2 = time.perf_counter()
            feed(values)
            t3 = time.perf_counter()
            partitioned_records(result.closed, values, where.__getitem__)
            t4 = time.perf_counter()
            for k, d in enumerate((t1 - t0, t2 - t1, t3 - t2, t4 - t3), start=1):
                took[k] += d
            if i >= warm:
                steps.append(t4 - t0)
            closes += sum(len(bars) for by in result.closed.values() for bars in by.values())
        if i < warm:
            continue
        if not closes:
            quiet.append(sum(took))
            continue
        second = int(ticks.ts_ns[-1]) // 1_000_000_000
        row = bursts.setdefault(second, [0.0] * (len(PARTS) + 2))
        for k, d in enumerate(took):
            row[k] += d
        row[-2] += closes
        row[-1] += 1
    full = np.array([r for r in bursts.values() if r[-2] >= 0.9 * SYMBOLS])
    per = full[:, : len(PARTS)].sum(axis=1) * 1000
    baseline = statistics.mean(quiet) * 1000 * float(np.mean(full[:, -1]))
    ms = np.array(steps) * 1000
    return {
        "per_boundary_ms": float(np.median(per)),
        "per_boundary_max_ms": float(per.max()),
        "baseline_ms": baseline,
        "ratio": float(np.median(per)) / baseline,
        "batches": float(np.mean(full[:, -1])),
        "bars": float(np.mean(full[:, -2])),
        "us_per_bar": float(np.median(per)) * 1000 / float(np.mean(full[:, -2])),
        **{f"{p}_ms": float(np.median(full[:, k])) * 1000 for k, p in enumerate(PARTS)},
        "step_p99_ms": float(np.percentile(ms, 99)),
        "step_max_ms": float(ms.max()),
        "boundaries": float(len(full)),
    }


def report(args: argparse.Namespace, got: dict[str, float]) -> str:
    parts = " / ".join(f"{got[f'{p}_ms']:.1f}" for p in PARTS)
    head = (
        "| per boundary (median) | max | baseline | ratio | batches | bars | per bar"
        " | decode / store / indicators / feed / records | step p99 / max |"
    )
    row = (
        f"| {got['per_boundary_ms']:.1f} ms | {got['per_boundary_max_ms']:.1f} ms"
        f" | {got['baseline_ms']:.1f} ms | {got['ratio']:.2f} | {got['batches']:.1f}"
        f" | {got['bars']:,.0f} | {got['us_per_bar']:.1f} µs | {parts} ms"
        f" | {got['step_p99_ms']:.1f} / {got['step_max_ms']:.1f} ms |"
    )
    return f"""- command: `{command("bench/boundary.py")}` (or `make bench-boundary`)
- when: {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
- service: {revision()}
- machine: {machine()}

{SYMBOLS:,} symbols, {args.rate:,.0f} ticks/s of JSON records in batches of {args.batch_ms:g} ms
of the feed, steps of {args.step:,} ticks, the cache holding the indicator frames of
{args.held_frames:,} symbols, {got["boundaries"]:.0f} boundaries measured. Baseline: the same
number of batches closing no bar.

{head}
|---|---|---|---|---|---|---|---|---|
{row}

```
{result_line(got)}
```"""


def result_line(got: dict[str, float]) -> str:
    keys = ("per_boundary_ms", "baseline_ms", "ratio", "us_per_bar", "step_p99_ms", "step_max_ms")
    return "RESULT boundary " + " ".join(f"{k}={got[k]:.2f}" for k in keys)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=170_000, help="ticks/s (~50 %% of the maximum)")
    p.add_argument("--batch-ms", type=float, default=12.0, help="feed time per batch")
    p.add_argument("--seconds", type=int, default=18, help="of the feed, 5 of them warm-up")
    p.add_argument("--step", type=int, default=STEP_TICKS, help="ticks per store step")
    p.add_argument(
        "--held-frames",
        type=int,
        default=SYMBOLS,
        help="symbols whose indicator frame the cache holds (read once after the warm-up)",
    )
    output_arguments(p)
    args = p.parse_args()
    got = run(args.rate, args.batch_ms, args.seconds, args.step, args.held_frames)
    text = report(args, got)
    print(text)
    if args.write:
        write_generated("## boundary", "bench/boundary.py", text, args.results)


if __name__ == "__main__":
    main()
