"""Replay throughput: `ticksmith replay` of a 1,000,000-tick Parquet file in each format.

The file (Market ticks, 100 symbols) is written once. Each run is `ticksmith replay
FILE --format F --quiet` as a process, as a user runs it, into a fresh 6-partition
topic of the benchmarks' own broker; its rate is the one it prints (ticks
acknowledged over the seconds from the first send to the last ack), so the
file's first pass, start-up and connecting are left out; the wall time of the
whole process is shown beside it. The topic must then hold every tick (one
record each for json and binary; binary-batch's records are counted).

    python bench/replay.py            (or: make bench-replay)
    python bench/replay.py --ticks 100000 --runs 1 --no-write   (smoke)

Ends with one `RESULT replay ...` line and rewrites the generated block of the
`## replay` section of bench/RESULTS.md (unless --no-write). The broker is
deploy/kafka/broker.sh on BENCH_KAFKA_PORT (19392), started and stopped here if
it is not already running.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import uvloop

from _broker import Topics, check_records, end_offsets, local_broker
from _results import (
    Spread,
    command,
    load_average,
    machine,
    output_arguments,
    revision,
    write_generated,
)
from ticksmith.produce.market import Market, symbol_names
from ticksmith.produce.writer import FORMATS, Format

PARTITIONS = 6
SYMBOLS = 100
TICKS = 1_000_000
RUNS = 3  # per format
BATCH_SIZE = 100
SECTION = "## replay"
NAMES: dict[Format, str] = {"json": "json", "binary": "binary", "binary-batch": "batch"}
SENT = re.compile(r"sent ([\d,]+) ticks to \S+ in [\d.]+ s: ([\d,]+) ticks/s")


async def replay_once(bootstrap: str, topic: str, path: Path, fmt: Format) -> tuple[float, float]:
    """One `ticksmith replay` process: the ticks/s it printed, and its wall seconds."""
    env = {
        **os.environ,
        "TICKSMITH_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "TICKSMITH_KAFKA__TICKS_TOPIC": topic,
    }
    args = ["replay", str(path), "--format", fmt, "--batch-size", str(BATCH_SIZE), "--quiet"]
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ticksmith", *args, env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    wall_s = time.perf_counter() - started
    found = SENT.search(out.decode())
    if proc.returncode != 0 or found is None:
        raise RuntimeError(f"ticksmith replay exited {proc.returncode}: {out.decode()!r}")
    return float(found.group(2).replace(",", "")), wall_s


async def measure(
    bootstrap: str, path: Path, ticks: int, runs: int
) -> dict[Format, tuple[Spread, Spread, int]]:
    out: dict[Format, tuple[Spread, Spread, int]] = {}
    async with Topics(bootstrap) as topics:
        for fmt in FORMATS:
            rates, walls, records = [], [], 0
            for _ in range(runs):
                topic = await topics.create(NAMES[fmt], PARTITIONS)
                rate, wall_s = await replay_once(bootstrap, topic, path, fmt)
                records = sum((await end_offsets(bootstrap, topic, PARTITIONS)).values())
                if fmt != "binary-batch":
                    await check_records(bootstrap, topic, PARTITIONS, ticks)
                rates.append(rate)
                walls.append(wall_s)
                print(f"{fmt}: {rate:,.0f} ticks/s, {wall_s:.1f} s in all, {records:,} records")
            out[fmt] = (Spread.of(rates), Spread.of(walls), records)
    return out


def generated(
    results: dict[Format, tuple[Spread, Spread, int]], ticks: int, runs: int, head: str
) -> str:
    rows = [
        f"| {fmt} | {ticks:,} | {records:,} | {rate.show(',.0f')} | {wall.show('.1f', ' s')} |"
        for fmt, (rate, wall, records) in results.items()
    ]
    return "\n".join(
        [
            head,
            "",
            f"{runs} runs per format; median (range).",
            "",
            "| format | ticks | records | ticks/s, first send to last ack | process wall time |",
            "|---|---|---|---|---|",
            *rows,
            "",
            "```",
            result_line(results),
            "```",
        ]
    )


def result_line(results: dict[Format, tuple[Spread, Spread, int]]) -> str:
    figures = " ".join(
        f"{NAMES[fmt]}_ticks_per_s={rate.median:.0f}" for fmt, (rate, _, _) in results.items()
    )
    return f"RESULT replay {figures}"


async def main(args: argparse.Namespace) -> None:
    started, load_before = time.perf_counter(), load_average()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ticks.parquet"
        Market(symbol_names(SYMBOLS), seed=0).chunk(args.ticks).to_parquet(path, index=False)
        with local_broker() as bootstrap:
            results = await measure(bootstrap, path, args.ticks, args.runs)
    minutes = (time.perf_counter() - started) / 60
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    head = "\n".join(
        [
            f"- command: `{command('bench/replay.py')}` (or `make bench-replay`)",
            f"- when: {when}, {minutes:.1f} min",
            f"- service: {revision()}",
            f"- machine: {machine()}",
            f"- load average (1, 5, 15 min): {load_before} at the start,"
            f" {load_average()} at the end",
        ]
    )
    text = generated(results, args.ticks, args.runs, head)
    if args.write and args.ticks == TICKS:
        write_generated(SECTION, "bench/replay.py", text, args.results)
    print(f"\n{text}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ticks", type=int, default=TICKS, help="a run of fewer is not written")
    parser.add_argument("--runs", type=int, default=RUNS)
    output_arguments(parser)
    return parser.parse_args()


if __name__ == "__main__":
    uvloop.run(main(parse_args()))
