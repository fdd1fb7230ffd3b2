"""End-to-end latency under paced load: from a tick's send to the broker's append of the
output record of the bar that tick closed, at 25, 50 and 75 % of the service's maximum
ingest rate measured in the same run.

1. The baseline: a topic is filled with one tick per record (6 partitions, 1,000 symbols),
   and `ticksmith run` (a process, a fresh group each time) drains it MAX_RUNS times; the
   maximum ingest rate is the median drain rate, from the first tick consumed to the last
   (read from the service's /metrics).
2. Per level (fraction of that maximum), fresh topics and a fresh `ticksmith run`: a
   paced producer (another process: bench/_latency_pace.py) sends ticks at the rate, each
   record stamped with the wall clock when it is sent, event time following the wall
   clock, so 1 s bars close all along (the ticks are made and encoded before the level
   starts, so the producer takes little of the cores the service needs). The output
   topic is `LogAppendTime`, so an output record's timestamp is the broker's append time.
   After a warm-up, a window of measurement: reads of
   `GET /v1/symbols/{symbol}/indicators?limit=100` at a steady rate (random symbols),
   /metrics scraped at its start and end (event-loop lag), CPU of the service, the
   producer and the broker.
3. A bar closes on the first tick of its symbol at or past its end (bars.lateness_ms and
   bars.quiet_close_ms are 0); the producer records, for each bar, that tick's send stamp.
   Each output record of a bar closed by a tick sent in the window gives one latency:
   append time minus send stamp (both whole milliseconds, one host's clock).
4. The floor, per level, with the service stopped: the same paced producer into a fresh
   topic read by a bare consumer here; send stamp to receipt (the Kafka hop alone).

    python bench/latency.py            (or: make bench-latency)
    python bench/latency.py --max-ticks 500000 --max-runs 1 --warm-s 2 --measure-s 4 --hop-s 2
        --no-write                                                      (smoke, ~1 min)

About 3 minutes. Ends with one `RESULT latency ...` line and rewrites the generated block
of the `## latency` section of bench/RESULTS.md (unless --no-write); the method prose
around the block is kept there by hand. The broker is deploy/kafka/broker.sh
on BENCH_KAFKA_PORT (19392), started and stopped here if it is not already running.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import uvloop

from _broker import Topics, broker_pid, check_records, local_broker
from _latency_kafka import HOP_WARM_S, hop_latencies, join, read_outputs
from _latency_level import (
    READS_IN_FLIGHT,
    SCRAPE_S,
    TICKS_CONSUMED,
    Level,
    Plan,
    Window,
    measure_window,
    ticks_until,
)
from _latency_pace import PARTITIONS, Paced, PaceSpec, fill_backlog, pacer
from _latency_report import Report, bound, goals, ms, result_line, tables
from _results import load_average, output_arguments, write_generated
from _service import Service, Wiring, free_port, service, service_env

FRACTIONS = (0.25, 0.50, 0.75)
MAX_TICKS = 3_000_000  # the backlog the maximum is measured on: drained in 5-10 s
MAX_RUNS = 3
WARM_S = 5.0
MEASURE_S = 25.0
READ_RATE = 50.0  # API reads per second, open loop
HOP_S = 10.0
LOG_APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}
SECTION = "## latency"


def instance(w: Wiring, workdir: Path) -> contextlib.AbstractAsyncContextManager[Service]:
    """`ticksmith run` on `w` with a fresh group, ready; stopped with SIGTERM and checked
    to exit 0 (the batch in flight settles: its output records are acknowledged)."""
    env = service_env(w, free_port(), "bench-latency")
    log = workdir / f"service-{uuid.uuid4().hex[:6]}.log"
    return service(env, log, connections=READS_IN_FLIGHT + 4)


async def drain_rate(w: Wiring, ticks: int, workdir: Path) -> float:
    """Ticks/s of a fresh instance draining the backlog, from the first scrape that
    counted any tick to the one that counted them all (start-up and join left out)."""
    async with instance(w, workdir) as svc:
        first = await ticks_until(svc, lambda n: n > 0, SCRAPE_S)
        last = await ticks_until(svc, lambda n: n >= ticks, SCRAPE_S)
    counted = last.total(TICKS_CONSUMED) - first.total(TICKS_CONSUMED)
    if first.total(TICKS_CONSUMED) >= ticks or counted <= 0:
        raise RuntimeError("drained between two scrapes: make the backlog bigger")
    return counted / (last.at - first.at)


async def run_level(
    topics: Topics, bootstrap: str, dead_letter: str, fraction: float, rate: float, plan: Plan
) -> Level:
    """Fresh topics and a fresh service instance, paced at `rate` ticks/s."""
    pct = round(fraction * 100)
    ticks = await topics.create(f"lat-ticks-{pct}", PARTITIONS)
    out = await topics.create(f"lat-out-{pct}", PARTITIONS, LOG_APPEND_TIME)
    hop_topic = await topics.create(f"lat-hop-{pct}", PARTITIONS)  # early: leaders settle
    w = Wiring(bootstrap, ticks, dead_letter, out)
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        workdir = Path(tmp)
        spec = PaceSpec(
            bootstrap, ticks, plan.fmt, rate, plan.warm_s + plan.measure_s, tmp + "/closers.npz"
        )
        async with instance(w, workdir) as svc:
            paced, window = await paced_window(svc, spec, workdir, plan)
            await ticks_until(svc, lambda n: n >= paced.sent, 0.25)
        closers = dict(np.load(spec.closers))
        hop_spec = replace(
            spec, topic=hop_topic, seconds=HOP_WARM_S + plan.hop_s, closers=tmp + "/hop.npz"
        )
        hop = await hop_latencies(bootstrap, hop_spec, plan.hop_s, workdir)
    await check_records(bootstrap, ticks, PARTITIONS, paced.sent)
    outputs = await read_outputs(bootstrap, out)
    latencies, missing, unexplained = join(closers, outputs, window.lo_ms, window.hi_ms)
    return Level(fraction, rate, paced, window, latencies, missing, unexplained, hop)


async def paced_window(
    svc: Service, spec: PaceSpec, workdir: Path, plan: Plan
) -> tuple[Paced, Window]:
    """Run the paced producer and measure its window; wait for it to finish."""
    async with pacer(spec, workdir) as p:
        pids = {
            "service": svc.proc.pid,
            "producer": p.proc.pid,
            "broker": broker_pid(),
            "bench": os.getpid(),
        }
        window = await measure_window(svc, pids, (p.started_ms, p.started_at), plan)
        return await p.finish(), window


# --- main -------------------------------------------------------------------------------


async def baseline(
    topics: Topics, bootstrap: str, dead_letter: str, plan: Plan, ticks: int, runs: int
) -> list[float]:
    backlog = await topics.create("lat-backlog", PARTITIONS)
    sink = await topics.create("lat-drain-out", PARTITIONS)
    started = time.perf_counter()
    await fill_backlog(bootstrap, backlog, plan.fmt, ticks)
    print(
        f"backlog: {ticks:,} {plan.fmt} ticks in {time.perf_counter() - started:.1f}s", flush=True
    )
    rates = []
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        for i in range(runs):
            rates.append(
                await drain_rate(Wiring(bootstrap, backlog, dead_letter, sink), ticks, Path(tmp))
            )
            print(f"  drain {i + 1}: {rates[-1]:,.0f} ticks/s", flush=True)
    return rates


def show(v: Level) -> str:
    return (
        f"  {v.pct} %: sent {v.sent_rate:,.0f} ticks/s, {len(v.latencies_ms):,} bars,"
        f" p50/p99/p99.9 {ms(v.latency(0.5), '.0f')}/{ms(v.latency(0.99), '.0f')}/"
        f"{ms(v.latency(0.999), '.0f')} ms, loop lag p99 {bound(v.loop_lag_ms())} ms,"
        f" read p50/p99 {ms(v.reads_ms(0.5))}/{ms(v.reads_ms(0.99))} ms,"
        f" CPU service {ms(v.cpu_pct('service'), '.0f')} % producer"
        f" {ms(v.cpu_pct('producer'), '.0f')} % broker {ms(v.cpu_pct('broker'), '.0f')} %"
        f" others {ms(v.cpu_pct('others'), '.0f')} %"
        + (f", {v.missing} bars without output" if v.missing else "")
        + (f", {v.unexplained} outputs no tick closed" if v.unexplained else "")
    )


async def main(args: argparse.Namespace) -> None:
    logging.getLogger("aiokafka").setLevel(logging.ERROR)  # transient coordinator noise
    plan = Plan(args.format, args.warm_s, args.measure_s, args.read_rate, args.hop_s)
    started, load_before = time.perf_counter(), load_average()
    with local_broker() as bootstrap:
        async with Topics(bootstrap) as topics:
            dead_letter = await topics.create("lat-dlq", 1)
            drains = await baseline(
                topics, bootstrap, dead_letter, plan, args.max_ticks, args.max_runs
            )
            max_rate = statistics.median(drains)
            levels = []
            for fraction in FRACTIONS:
                rate = fraction * max_rate
                print(f"level {fraction:.0%}: {rate:,.0f} ticks/s ...", flush=True)
                levels.append(await run_level(topics, bootstrap, dead_letter, fraction, rate, plan))
                print(show(levels[-1]), flush=True)
    load = f"{load_before} at the start, {load_average()} at the end"
    report = Report(plan, args.max_ticks, drains, levels, time.perf_counter() - started, load)
    print(f"\nmaximum ingest rate {report.max_rate:,.0f} ticks/s\n\n{tables(levels)}\n")
    for text, ok in goals(levels):
        print(f"goal {'met' if ok else 'NOT met'}: {text}")
    print(f"elapsed {report.elapsed_s / 60:.1f} min")
    if args.write:
        write_generated(SECTION, "bench/latency.py", report.generated(), args.results)
    print(result_line(report.max_rate, levels))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--format", choices=("json", "binary"), default="json", help="one tick per record"
    )
    p.add_argument("--warm-s", type=float, default=WARM_S, help="per level, before the window")
    p.add_argument("--measure-s", type=float, default=MEASURE_S, help="the window, per level")
    p.add_argument("--hop-s", type=float, default=HOP_S, help="the Kafka hop's window")
    p.add_argument("--read-rate", type=float, default=READ_RATE, help="API reads per second")
    p.add_argument("--max-ticks", type=int, default=MAX_TICKS, help="the backlog for the maximum")
    p.add_argument("--max-runs", type=int, default=MAX_RUNS, help="drains of the backlog")
    output_arguments(p)
    return p.parse_args()


if __name__ == "__main__":
    uvloop.run(main(parse_args()))
