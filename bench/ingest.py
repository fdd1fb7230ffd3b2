"""Ingest throughput: the service end to end against a bare consumer on the same topic.

For each workload (JSON and binary one tick per record, binary batches of 100
ticks per record) a topic is filled once, then drained alternately by the
ceiling (a bare aiokafka consumer that only counts records) and the candidate
(the whole service in this process, run as `ticksmith run` runs it: decode, store,
indicators, output records for closed bars, offsets committed), a warm-up pair and
then PAIRS pairs. A run's rate is
taken from the first tick counted to the last, so group join and start-up are
left out. Then `ticksmith run --workers 1` and `--workers 2` are run as
processes on a bigger batch topic, timed from when every worker is ready.

    python bench/ingest.py            (or: make bench-ingest)
    python bench/ingest.py --scale 0.2 --pairs 1 --worker-pairs 1 --no-write   (smoke)

Ends with one `RESULT ingest ...` line and rewrites the generated block of the
`## ingest` section of bench/RESULTS.md (unless --no-write); the method prose
around the block is kept there by hand. The broker is deploy/kafka/broker.sh on BENCH_KAFKA_PORT
(19392), started and stopped here if it is not already running.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import pstats
import time
from dataclasses import dataclass

import uvloop

from _broker import Filled, Topics, fill, local_broker
from _ingest_drain import Sinks, candidate, compare
from _ingest_report import TABLE_HEAD, Outcome, Report, goals, result_line
from _ingest_workers import WorkersRun, workers_gain
from _results import load_average, output_arguments, revision, write_generated
from ticksmith.produce.writer import Format

PARTITIONS = 6
SYMBOLS = 1_000
BATCH_SIZE = 100
PAIRS = 5  # measured ceiling/candidate pairs per workload, after one warm-up pair
WORKER_PAIRS = 3
WORKERS_TICKS = 15_000_000  # the second worker joins late: leave a long window after
SECTION = "## ingest"


@dataclass(frozen=True)
class Workload:
    name: str
    fmt: Format
    ticks: int

    def scaled(self, factor: float) -> Workload:
        return Workload(self.name, self.fmt, round(self.ticks * factor))


WORKLOADS = (
    Workload("json", "json", 1_000_000),
    Workload("binary", "binary", 1_000_000),
    Workload("batch", "binary-batch", 5_000_000),
)


# --- main -------------------------------------------------------------------------------


async def make_sinks(topics: Topics) -> Sinks:
    return Sinks(await topics.create("dlq", 1), await topics.create("out", PARTITIONS))


async def prepare(bootstrap: str, topics: Topics, w: Workload) -> Filled:
    started = time.perf_counter()
    topic = await topics.create(w.name, PARTITIONS)
    filled = await fill(
        bootstrap, topic, PARTITIONS, w.fmt, w.ticks, symbols=SYMBOLS, batch_size=BATCH_SIZE
    )
    print(
        f"{w.name}: {filled.ticks:,} ticks in {filled.records:,} records on {topic}"
        f" (filled in {time.perf_counter() - started:.1f}s)"
    )
    return filled


async def profile_candidates(bootstrap: str, topics: Topics, sinks: Sinks, top: int) -> None:
    for w in WORKLOADS:
        filled = await prepare(bootstrap, topics, w)
        await candidate(bootstrap, filled, sinks)  # warm-up
        profile = cProfile.Profile()
        rate = await candidate(bootstrap, filled, sinks, profile)
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out).strip_dirs()
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
        print(f"== {w.name}: {rate:,.0f} ticks/s under cProfile\n{out.getvalue()}")


async def measure(
    bootstrap: str, topics: Topics, sinks: Sinks, args: argparse.Namespace
) -> tuple[dict[str, Outcome], list[tuple[WorkersRun, WorkersRun]]]:
    outcomes: dict[str, Outcome] = {}
    for w in WORKLOADS:
        if w.name not in args.workloads:
            continue
        filled = await prepare(bootstrap, topics, w.scaled(args.scale))
        pairs = await compare(bootstrap, filled, sinks, args.pairs)
        outcomes[w.name] = Outcome.of(w.name, filled, pairs)
    if not args.worker_pairs:
        return outcomes, []
    workload = Workload("workers", "binary-batch", WORKERS_TICKS).scaled(args.scale)
    big = await prepare(bootstrap, topics, workload)
    return outcomes, await workers_gain(bootstrap, big, sinks, args.worker_pairs)


async def main(args: argparse.Namespace) -> None:
    logging.getLogger("aiokafka").setLevel(logging.ERROR)  # transient coordinator noise
    started, load_before = time.perf_counter(), load_average()
    with local_broker() as bootstrap:
        async with Topics(bootstrap) as topics:
            sinks = await make_sinks(topics)
            if args.profile:
                await profile_candidates(bootstrap, topics, sinks, args.profile)
                return
            outcomes, workers = await measure(bootstrap, topics, sinks, args)
    load = f"{load_before} at the start, {load_average()} at the end"
    elapsed = time.perf_counter() - started
    print(f"\n{TABLE_HEAD}\n" + "\n".join(o.row() for o in outcomes.values()))
    if len(outcomes) < len(WORKLOADS) or not workers:
        print("partial run (--workloads or --worker-pairs 0): no goals, RESULT or RESULTS.md")
        return
    report = Report(outcomes, args.pairs, workers, elapsed, revision(), load)
    if report.workers:
        print(f"workers 2/1 gain {report.gain.show('.3f')}")
    for text, ok in goals(outcomes):
        print(f"goal {'met' if ok else 'NOT met'}: {text}")
    if args.write:
        write_generated(SECTION, "bench/ingest.py", report.generated(), args.results)
    print(result_line(outcomes, report.gain))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=PAIRS)
    parser.add_argument("--worker-pairs", type=int, default=WORKER_PAIRS)
    parser.add_argument(
        "--scale", type=float, default=1.0, help="ticks per workload times this (smoke: 0.2)"
    )
    output_arguments(parser)
    parser.add_argument(
        "--workloads",
        type=lambda text: text.split(","),
        default=[w.name for w in WORKLOADS],
        help="comma-separated subset of json,binary,batch (a partial run is not written)",
    )
    parser.add_argument(
        "--profile", type=int, metavar="TOP", help="cProfile one candidate run per workload"
    )
    return parser.parse_args()


if __name__ == "__main__":
    uvloop.run(main(parse_args()))
