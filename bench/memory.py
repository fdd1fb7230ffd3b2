"""Memory soak: peak RSS of the service under a byte budget, proxy cache against a
plain strong-reference cache, with readers recomputing what was reclaimed.

Two runs, one after the other, each with fresh topics and a fresh consumer group
on the local broker (deploy/kafka/broker.sh on BENCH_KAFKA_PORT, 19792 here,
started and stopped by this script only if it was not running):

- ``proxy``: the service as shipped, with ``monitor.budget_bytes`` = the budget
  (512 MiB) and a strong-tier ``cache.budget_bytes`` (--cache-mib);
- ``strong``: the same service with eviction disabled: the cache budget and the
  monitor budget set to 64 GiB and the PSI signals off, so every frame the
  readers ever computed stays strongly held (a plain strong-reference cache).

In each run, ``ticksmith produce`` (a separate process; paced, so event time
follows the wall clock) streams --symbols symbols at --rate ticks/s for --minutes
into a 6-partition topic, and ``ticksmith run`` (another process) consumes it.
Readers in this process read ``GET /v1/symbols/{symbol}/indicators?limit=200``
in pairs: a **cold** read of the next symbol of a shuffled cycle over all symbols
(not read for a long time: its frame is missing, reclaimed or stale, so the read
recomputes), then at once a **hot** read of the same symbol (a cache hit unless a
bar closed in between). The cache's hit and recompute counters check that split.
The service's RSS is sampled every 0.5 s (psutil) and /metrics every 10 s.

Bars default to 5 s and the store to 64 ticks and 64 bars per symbol: with
10,000 symbols, 1 s bars cost the service more CPU than one core, and a store of
the default size does not fit the budget (see the section in RESULTS.md).

After the runs, bench/_memory_parts.py (a fresh process, no Kafka) breaks the
memory down part by part with the same settings (--no-parts skips it).

    .venv/bin/python bench/memory.py                     (or: make bench-memory)
    .venv/bin/python bench/memory.py --minutes 0.5 --symbols 500 --no-write   (smoke)

About 15 minutes with the defaults. Ends with one ``RESULT memory ...`` line and
rewrites the generated block of the ``## memory`` section of bench/RESULTS.md (unless
--no-write); the method prose around the block is kept there by hand.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import uvloop

os.environ.setdefault("BENCH_KAFKA_PORT", "19792")  # before _broker reads it

from _broker import local_broker
from _memory_report import Outcome, generated, parts_table, summary, table
from _memory_soak import Plan, Run, measure_parts, one_run
from _results import load_average, output_arguments, write_generated

SECTION = "## memory"


async def main(args: argparse.Namespace) -> Outcome | None:
    """Both runs (or --modes), then the parts; None unless both runs were made."""
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    plan = Plan(
        minutes=args.minutes,
        symbols=args.symbols,
        rate=args.rate,
        batch_size=args.batch_size,
        budget_mib=args.budget_mib,
        cache_mib=args.cache_mib,
        ticks_per_symbol=args.ticks_per_symbol,
        history_bars=args.history_bars,
        interval_ms=args.interval_ms,
        read_rate=args.read_rate,
        readers=args.readers,
        cap_mib=args.cap_mib,
        seed=args.seed,
    )
    started, load_before = time.perf_counter(), load_average()
    runs: dict[str, Run] = {}
    with local_broker() as bootstrap:
        for mode in args.modes:
            print(
                f"{mode}: {plan.symbols:,} symbols at {plan.rate:,} ticks/s for "
                f"{plan.minutes} min ...",
                flush=True,
            )
            run = await one_run(bootstrap, plan, mode)
            runs[mode] = run
            print(summary(run), flush=True)
            if args.dump:
                args.dump.mkdir(parents=True, exist_ok=True)
                (args.dump / f"{mode}.metrics").write_text(run.last_text)
                (args.dump / f"{mode}.log").write_text(
                    "\n".join(run.transitions) + "\n" + run.log_tail
                )
                (args.dump / f"{mode}.rss").write_text(
                    "".join(f"{t:.1f} {b}\n" for t, b in run.rss)
                )
        parts = None
        if args.parts:
            print("parts: the service's parts in a fresh process ...", flush=True)
            parts = await measure_parts(plan)
    if not {"proxy", "strong"} <= set(runs):
        return None
    load = f"{load_before} at the start, {load_average()} at the end"
    elapsed = time.perf_counter() - started
    return Outcome(runs["proxy"], runs["strong"], elapsed, load, parts)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=5.5, help="streaming time per run")
    p.add_argument("--symbols", type=int, default=10_000)
    p.add_argument("--rate", type=int, default=20_000, help="ticks/s produced")
    p.add_argument("--batch-size", type=int, default=20, help="binary-batch ticks per record")
    p.add_argument("--budget-mib", type=int, default=512, help="monitor.budget_bytes")
    p.add_argument("--cache-mib", type=int, default=16, help="cache.budget_bytes (proxy run)")
    p.add_argument("--ticks-per-symbol", type=int, default=64)
    p.add_argument("--history-bars", type=int, default=64)
    p.add_argument("--interval-ms", type=int, default=5000, help="bars.intervals_ms")
    p.add_argument("--read-rate", type=float, default=100.0, help="read pairs/s, at most")
    p.add_argument("--readers", type=int, default=16, help="read pairs in flight, at most")
    p.add_argument("--cap-mib", type=int, default=6144, help="kill a run above this RSS")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--modes", type=lambda s: s.split(","), default=["proxy", "strong"])
    p.add_argument("--dump", type=Path, help="save each run's last /metrics, log tail, RSS")
    p.add_argument("--no-parts", dest="parts", action="store_false", help="skip the breakdown")
    output_arguments(p)
    return p.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    outcome = uvloop.run(main(arguments))
    if outcome is None:
        sys.exit(0)
    print(table(outcome))
    if outcome.parts:
        print(parts_table(outcome.parts))
    if arguments.write:
        write_generated(SECTION, "bench/memory.py", generated(outcome), arguments.results)
    print(outcome.result_line())
