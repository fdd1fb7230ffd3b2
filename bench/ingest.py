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

Ends with one `RESULT ingest ...` line and rewrites the generated block of the
`## ingest` section of bench/RESULTS.md (unless --no-write); the method prose
around the block is kept there by hand. The broker is deploy/kafka/broker.sh on BENCH_KAFKA_PORT
(19392), started and stopped here if it is not already running.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import logging
import os
import pstats
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import uvloop
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry, Counter

from _broker import ROOT, Filled, Topics, fill, local_broker
from _results import Spread, load_average, machine, revision, write_generated
from ticksmith.app import lifespan
from ticksmith.config import HttpSettings, Settings
from ticksmith.kafka.settings import KafkaSettings
from ticksmith.produce.writer import Format

PARTITIONS = 6
SYMBOLS = 1_000
BATCH_SIZE = 100
PAIRS = 5  # measured ceiling/candidate pairs per workload, after one warm-up pair
WORKER_PAIRS = 3
WORKERS_TICKS = 15_000_000  # the second worker joins late: leave a long window after
FETCH_MAX_RECORDS = 20_000
FETCH_PARTITION_BYTES = 4 * 1024 * 1024  # as the service's consumer, so only the work differs
POLL_S = 0.02  # in-process counter sampling
SCRAPE_S = 0.05  # /metrics sampling of worker processes (each scrape costs the worker)
DRAIN_TIMEOUT_S = 180.0
GOAL_RATIO = {"json": 0.6, "binary": 0.8}
GOAL_BATCH_TICKS_PER_S = 2_000_000

RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## ingest"


@dataclass(frozen=True)
class Workload:
    name: str
    fmt: Format
    ticks: int


WORKLOADS = (
    Workload("json", "json", 1_000_000),
    Workload("binary", "binary", 1_000_000),
    Workload("batch", "binary-batch", 5_000_000),
)


@dataclass(frozen=True)
class Sinks:
    """The service's dead-letter and output topics, shared by every candidate run."""

    dead_letter: str
    output: str


# --- timing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    count: float
    at: float  # time.perf_counter()


@dataclass(frozen=True)
class Window:
    first: Sample
    last: Sample

    @property
    def rate(self) -> float:
        """Ticks per second between the two samples: the ticks counted by the first
        sample were consumed before the window opened, so they are not in it."""
        return (self.last.count - self.first.count) / (self.last.at - self.first.at)


Read = Callable[[], Awaitable[float]]


async def sample(read: Read) -> Sample:
    """The count, stamped at the middle of the read (a scrape takes a while)."""
    before = time.perf_counter()
    count = await read()
    return Sample(count, (before + time.perf_counter()) / 2)


async def sample_until(
    read: Read, done: Callable[[float], bool], poll_s: float, alive: Callable[[], None]
) -> Sample:
    """Sample every `poll_s` until `done(count)`; `alive()` raises if the drainer died."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while not done((got := await sample(read)).count):
        alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"no progress to the goal after {DRAIN_TIMEOUT_S}s: at {got.count}")
        await asyncio.sleep(poll_s)
    return got


async def watch(read: Read, total: float, poll_s: float, alive: Callable[[], None]) -> Window:
    """The window from the first sample that counted anything to the one that counted all."""
    first = await sample_until(read, lambda n: n > 0, poll_s, alive)
    last = await sample_until(read, lambda n: n >= total, poll_s, alive)
    if first.count >= total:
        raise RuntimeError("drained between two samples: make the topic bigger")
    return Window(first, last)


def task_alive(task: asyncio.Task[None]) -> Callable[[], None]:
    def check() -> None:
        if task.done():
            task.result()  # re-raises its failure
            raise RuntimeError("the drain stopped before the topic was consumed")

    return check


# --- ceiling and candidate ---------------------------------------------------------------


async def ceiling(bootstrap: str, filled: Filled) -> float:
    """A bare consumer draining the topic: counts records, decodes nothing.

    Timed inline, not by a sampler: once a fetch is buffered, getmany() returns
    without yielding, so a sampler task would not run until the drain was over.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=FETCH_PARTITION_BYTES,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(filled.topic, p) for p in range(filled.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        window = await asyncio.wait_for(_drain_bare(consumer, filled), DRAIN_TIMEOUT_S)
    finally:
        await consumer.stop()
    return window.rate


async def _drain_bare(consumer: AIOKafkaConsumer, filled: Filled) -> Window:
    per_record = filled.ticks / filled.records  # the exact mean: not every batch is full
    records = 0
    first: Sample | None = None
    while records < filled.records:
        batch = await consumer.getmany(timeout_ms=200, max_records=FETCH_MAX_RECORDS)
        records += sum(len(rs) for rs in batch.values())
        if first is None and records:
            first = Sample(records * per_record, time.perf_counter())
    last = Sample(records * per_record, time.perf_counter())
    if first is None or first.count >= last.count:
        raise RuntimeError("drained in one fetch: make the topic bigger")
    return Window(first, last)


def service_settings(bootstrap: str, filled: Filled, sinks: Sinks) -> Settings:
    Settings.toml_file = None
    kafka = KafkaSettings(
        bootstrap_servers=bootstrap,
        ticks_topic=filled.topic,
        dead_letter_topic=sinks.dead_letter,
        output_topic=sinks.output,
        group_id=f"bench-{uuid.uuid4().hex[:10]}",
        topic_partitions=filled.partitions,
    )
    return Settings(kafka=kafka, http=HttpSettings(port=0))


def counter_total(counter: Counter) -> float:
    """Sum over labels, from the counter alone (a registry-wide collect costs far more)."""
    return sum(s.value for m in counter.collect() for s in m.samples if s.name.endswith("_total"))


async def candidate(
    bootstrap: str, filled: Filled, sinks: Sinks, profile: cProfile.Profile | None = None
) -> float:
    """The service in this process, with a fresh group, draining the topic."""
    stop = asyncio.Event()
    async with lifespan(service_settings(bootstrap, filled, sinks), CollectorRegistry()) as svc:

        async def ticks() -> float:
            return counter_total(svc.metrics.ticks_consumed)

        def alive() -> None:
            task_alive(task)()
            if counter_total(svc.metrics.records_consumed) >= filled.records:
                missing = filled.ticks - counter_total(svc.metrics.ticks_consumed)
                dead = counter_total(svc.metrics.dead_letters)
                raise RuntimeError(f"every record consumed, {missing:.0f} ticks not ({dead} DLQ)")

        task = asyncio.create_task(svc.run(stop))
        if profile is not None:
            profile.enable()
        try:
            window = await watch(ticks, filled.ticks, POLL_S, alive)
        finally:
            if profile is not None:
                profile.disable()
            stop.set()
            await task
        rejected = counter_total(svc.metrics.dead_letters)
    if rejected or window.last.count != filled.ticks:
        raise RuntimeError(f"{filled.topic}: {rejected} dead letters, {window.last.count} ticks")
    return window.rate


@dataclass(frozen=True)
class Pair:
    ceiling: float
    candidate: float

    @property
    def ratio(self) -> float:
        return self.candidate / self.ceiling


async def compare(bootstrap: str, filled: Filled, sinks: Sinks, pairs: int) -> list[Pair]:
    """A B A B ...: one warm-up pair, not kept, then `pairs` pairs."""
    out: list[Pair] = []
    for i in range(pairs + 1):
        gc.collect()
        a = await ceiling(bootstrap, filled)
        gc.collect()
        b = await candidate(bootstrap, filled, sinks)
        label = "warm-up" if i == 0 else f"pair {i}"
        print(f"  {label:8} ceiling {a:>12,.0f}  candidate {b:>12,.0f} ticks/s  ratio {b / a:.3f}")
        if i:
            out.append(Pair(a, b))
    return out


# --- worker processes --------------------------------------------------------------------


def free_port_run(n: int) -> int:
    """A base port with n free ports from it (worker i serves on base + i)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        if base + n < 65536 and all(_free(base + i) for i in range(1, n)):
            return base
    raise RuntimeError("no run of free ports")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def worker_env(bootstrap: str, filled: Filled, sinks: Sinks, base_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKSMITH_")}
    return env | {
        "TICKSMITH_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "TICKSMITH_KAFKA__TICKS_TOPIC": filled.topic,
        "TICKSMITH_KAFKA__DEAD_LETTER_TOPIC": sinks.dead_letter,
        "TICKSMITH_KAFKA__OUTPUT_TOPIC": sinks.output,
        "TICKSMITH_KAFKA__GROUP_ID": f"bench-{uuid.uuid4().hex[:10]}",
        "TICKSMITH_HTTP__PORT": str(base_port),
    }


@dataclass(frozen=True)
class Scrape:
    ticks: float  # ticksmith_ticks_consumed_total, every partition and worker
    cpu_s: float  # process_cpu_seconds_total, every worker


async def scrape(http: aiohttp.ClientSession, ports: list[int]) -> Scrape:
    texts = await asyncio.gather(*(_get(http, f"http://127.0.0.1:{p}/metrics") for p in ports))
    lines = [line for text in texts for line in text.splitlines()]
    return Scrape(
        _sum(lines, "ticksmith_ticks_consumed_total{"), _sum(lines, "process_cpu_seconds_total ")
    )


def _sum(lines: list[str], prefix: str) -> float:
    return sum(float(ln.rsplit(" ", 1)[1]) for ln in lines if ln.startswith(prefix))


async def _get(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as response:
        response.raise_for_status()
        return await response.text()


async def all_ready(http: aiohttp.ClientSession, ports: list[int]) -> bool:
    async def one(port: int) -> bool:
        try:
            async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                return response.status == 200
        except aiohttp.ClientConnectionError:
            return False  # not listening yet

    return all(await asyncio.gather(*(one(p) for p in ports)))


@dataclass(frozen=True)
class WorkersRun:
    window: Window
    cpu_s: float  # the workers' CPU time inside the window
    ready_after_s: float  # from spawning the processes
    total: int

    @property
    def ticks(self) -> float:
        return self.window.last.count - self.window.first.count

    @property
    def covered(self) -> float:
        """The share of the topic consumed inside the timed window."""
        return self.ticks / self.total

    @property
    def cpu_us_per_tick(self) -> float:
        """Cost, whatever share of the cores the workers won from other load."""
        return self.cpu_s / self.ticks * 1e6


async def workers_run(bootstrap: str, filled: Filled, sinks: Sinks, n: int) -> WorkersRun:
    """`ticksmith run --workers n` with a fresh group: ticks/s from all ready to drained."""
    base = free_port_run(n)
    ports = [base + i for i in range(n)]
    with tempfile.TemporaryFile("w+") as log:
        spawned = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ticksmith",
            "run",
            "--workers",
            str(n),
            env=worker_env(bootstrap, filled, sinks, base),
            stdout=log,
            stderr=log,
        )

        def alive() -> None:
            if proc.returncode is not None:
                log.seek(0)
                raise RuntimeError(f"workers exited {proc.returncode}:\n{log.read()[-3000:]}")

        try:
            async with aiohttp.ClientSession() as http:
                window, cpu_s = await _timed_from_ready(http, ports, filled.ticks, alive)
        finally:
            code = await _terminate(proc)
        if code != 0:
            log.seek(0)
            raise RuntimeError(f"workers exited {code} on SIGTERM:\n{log.read()[-3000:]}")
    return WorkersRun(window, cpu_s, window.first.at - spawned, filled.ticks)


async def _timed_from_ready(
    http: aiohttp.ClientSession, ports: list[int], total: int, alive: Callable[[], None]
) -> tuple[Window, float]:
    """The window from every worker ready to drained, and the workers' CPU time in it."""
    scrapes: list[Scrape] = []

    async def ready() -> float:
        return float(await all_ready(http, ports))

    async def ticks() -> float:
        scrapes.append(await scrape(http, ports))
        return scrapes[-1].ticks

    await sample_until(ready, bool, SCRAPE_S, alive)
    first = await sample(ticks)
    cpu_first = scrapes[-1].cpu_s
    last = await sample_until(ticks, lambda c: c >= total, SCRAPE_S, alive)
    if first.count >= total:
        raise RuntimeError("drained before every worker was ready: make the topic bigger")
    return Window(first, last), scrapes[-1].cpu_s - cpu_first


async def _terminate(proc: asyncio.subprocess.Process) -> int:
    if proc.returncode is None:
        proc.terminate()
    try:
        return await asyncio.wait_for(proc.wait(), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return -9


async def workers_gain(
    bootstrap: str, filled: Filled, sinks: Sinks, pairs: int
) -> list[tuple[WorkersRun, WorkersRun]]:
    """--workers 1 then --workers 2, alternating."""
    out: list[tuple[WorkersRun, WorkersRun]] = []
    for i in range(1, pairs + 1):
        one = await workers_run(bootstrap, filled, sinks, 1)
        two = await workers_run(bootstrap, filled, sinks, 2)
        a, b = one.window.rate, two.window.rate
        print(
            f"  pair {i}   1 worker {a:>12,.0f}  2 workers {b:>12,.0f} ticks/s  gain {b / a:.3f}"
            f"  CPU {one.cpu_us_per_tick:.2f}/{two.cpu_us_per_tick:.2f} µs/tick"
            f"  (ready after {one.ready_after_s:.1f}s/{two.ready_after_s:.1f}s,"
            f" timed {one.covered:.0%}/{two.covered:.0%} of the topic)"
        )
        out.append((one, two))
    return out


# --- report -----------------------------------------------------------------------------

DASH = "\N{EN DASH}"


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


def command() -> str:
    return " ".join(["python", "bench/ingest.py", *sys.argv[1:]])


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
- command: `{command()}` (or `make bench-ingest`)
- when: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {self.elapsed_s / 60:.1f} min
- service: {self.revision}
- machine: {machine()}
- load average (1, 5, 15 min): {self.load}

{TABLE_HEAD}
{rows}

Goals:
{met}

Workers, {len(self.workers)} alternating pairs:

| workers | ticks/s | workers' CPU µs per tick |
|---|---|---|
| 1 | {rate[0].show(",.0f")} | {cpu[0].show(".2f")} |
| 2 | {rate[1].show(",.0f")} | {cpu[1].show(".2f")} |

Gain, 2 workers over 1: {self.gain.show(".3f")}.

```
{result_line(self.outcomes, self.gain)}
```
"""


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
        filled = await prepare(bootstrap, topics, w)
        pairs = await compare(bootstrap, filled, sinks, args.pairs)
        outcomes[w.name] = Outcome.of(w.name, filled, pairs)
    if not args.worker_pairs:
        return outcomes, []
    workload = Workload("workers", "binary-batch", WORKERS_TICKS)
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
    parser.add_argument("--results", type=Path, default=RESULTS, help="the file to write")
    parser.add_argument("--no-write", dest="write", action="store_false", help="leave RESULTS.md")
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
