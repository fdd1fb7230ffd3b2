"""bench/ingest.py's drains of one pre-filled topic: the ceiling (a bare consumer that
counts records) and the candidate (the service in this process), alternated in pairs,
each timed from the first tick counted to the last."""

from __future__ import annotations

import asyncio
import cProfile
import gc
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from prometheus_client import CollectorRegistry, Counter

from _broker import FETCH_PARTITION_BYTES, Filled, bare_consumer
from ticksmith.app import lifespan
from ticksmith.config import HttpSettings, Settings
from ticksmith.kafka.settings import KafkaSettings

FETCH_MAX_RECORDS = 20_000
POLL_S = 0.02  # in-process counter sampling
DRAIN_TIMEOUT_S = 180.0


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
    consumer = bare_consumer(bootstrap, filled.topic, filled.partitions, FETCH_PARTITION_BYTES)
    async with consumer as c:
        window = await asyncio.wait_for(_drain_bare(c, filled), DRAIN_TIMEOUT_S)
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
