"""The commit order, with fake clients: no commit before a batch's outputs and dead
letters are acknowledged; a failed acknowledgement means no commit, and the member stops.
With an interval, one commit stands for every batch acknowledged since the last."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError, KafkaTimeoutError
from prometheus_client import CollectorRegistry

from ticksmith.metrics import Metrics
from ticksmith.pipeline.settle import MAX_IN_FLIGHT, Effects, SettleFailed, Settler

pytestmark = pytest.mark.timeout(10)
TP = TopicPartition("ticks", 0)
TP1, TP2 = TopicPartition("ticks", 1), TopicPartition("ticks", 2)
Offsets = dict[TopicPartition, int]


class FakeConsumer:
    """Records every commit, and what had been acknowledged when it was made; a commit
    waits for `gate` when one is given."""

    def __init__(
        self, log: list[str], fail: BaseException | None = None, gate: asyncio.Event | None = None
    ) -> None:
        self.log = log
        self.fail = fail
        self.gate = gate
        self.commits: list[Offsets] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def commit(self, offsets: Offsets) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.fail is not None:
                raise self.fail
        finally:
            self.in_flight -= 1
        self.commits.append(dict(offsets))
        if TP in offsets:
            self.log.append(f"commit {offsets[TP]}")


def settler_of(
    consumer: FakeConsumer, interval_ms: int = 0, registry: CollectorRegistry | None = None
) -> Settler:
    metrics = Metrics(registry or CollectorRegistry())
    return Settler(consumer, metrics, commit_interval_ms=interval_ms)


def acked_now() -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


async def until(condition: Callable[[], object], within_s: float = 2.0) -> float:
    """Wait until `condition` holds; the seconds it took."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < within_s, "the condition did not hold in time"
        await asyncio.sleep(0.001)
    return time.monotonic() - start


def acked(log: list[str], what: str) -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.add_done_callback(lambda _: log.append(what))
    return future


async def settle_one(
    log: list[str], consumer: FakeConsumer, offset: int = 10, interval_ms: int = 0
) -> tuple[Settler, asyncio.Future[None], asyncio.Future[None]]:
    settler = settler_of(consumer, interval_ms)
    outputs, dead = acked(log, "outputs acked"), acked(log, "dead letters acked")
    await settler.submit(Effects(outputs, dead, {TP: offset}))
    return settler, outputs, dead


async def test_the_commit_waits_for_outputs_and_dead_letters() -> None:
    log: list[str] = []
    settler, outputs, dead = await settle_one(log, FakeConsumer(log))
    await asyncio.sleep(0)
    dead.set_result(None)
    await asyncio.sleep(0)
    assert log == ["dead letters acked"]  # no commit yet: the outputs are not acknowledged
    outputs.set_result(None)
    await settler.settled()
    assert log == ["dead letters acked", "outputs acked", "commit 10"]
    assert settler.committed == {TP: 10}


@pytest.mark.parametrize("failing", ["outputs", "dead letters"])
async def test_a_failed_acknowledgement_means_no_commit_and_the_failure_is_raised(
    failing: str,
) -> None:
    log: list[str] = []
    settler, outputs, dead = await settle_one(log, FakeConsumer(log))
    for name, future in (("outputs", outputs), ("dead letters", dead)):
        if name == failing:
            future.set_exception(KafkaTimeoutError())
        else:
            future.set_result(None)
    with pytest.raises(SettleFailed, match=r"ticks\[0\]=10 were not committed"):
        await settler.settled()
    assert not any(line.startswith("commit") for line in log)
    assert settler.committed == {}


async def test_a_failure_is_seen_without_waiting_once_it_happened() -> None:
    log: list[str] = []
    settler, outputs, dead = await settle_one(log, FakeConsumer(log))
    settler.raise_failure()  # nothing failed yet: no wait, no error
    outputs.set_exception(KafkaTimeoutError())
    dead.set_result(None)
    await asyncio.sleep(0.01)
    with pytest.raises(SettleFailed):
        settler.raise_failure()


@pytest.mark.parametrize("interval_ms", [0, 20])
async def test_a_commit_refused_by_a_rebalance_is_not_a_failure_and_records_nothing(
    interval_ms: int,
) -> None:
    log: list[str] = []
    consumer = FakeConsumer(log, CommitFailedError())
    settler, outputs, dead = await settle_one(log, consumer, interval_ms=interval_ms)
    outputs.set_result(None)
    dead.set_result(None)
    await settler.settled()
    assert settler.committed == {}


async def test_any_other_commit_error_stops_the_member() -> None:
    log: list[str] = []
    settler, outputs, dead = await settle_one(log, FakeConsumer(log, KafkaTimeoutError()))
    outputs.set_result(None)
    dead.set_result(None)
    with pytest.raises(SettleFailed, match="committing offsets"):
        await settler.settled()


async def test_batches_settle_together_and_commit_in_order() -> None:
    log: list[str] = []
    settler = settler_of(FakeConsumer(log))  # interval 0: a commit per batch
    acks = [acked(log, f"outputs {n} acked") for n in (10, 20, 30)]
    done = acked(log, "")
    done.set_result(None)
    for offset, outputs in zip((10, 20, 30), acks, strict=True):
        await settler.submit(Effects(outputs, done, {TP: offset}))  # no wait for the one before
    acks[2].set_result(None)
    acks[1].set_result(None)
    await asyncio.sleep(0.01)
    assert not [line for line in log if line.startswith("commit")]  # 10 is not acknowledged
    acks[0].set_result(None)
    await settler.settled()
    assert [line for line in log if line.startswith("commit")] == [
        "commit 10",
        "commit 20",
        "commit 30",
    ]
    assert settler.committed == {TP: 30}


async def test_a_failed_batch_stops_the_commits_of_the_batches_after_it() -> None:
    log: list[str] = []
    settler = settler_of(FakeConsumer(log))  # interval 0: a commit per batch
    acks = [acked(log, f"outputs {n} acked") for n in (10, 20, 30)]
    done = acked(log, "")
    done.set_result(None)
    for offset, outputs in zip((10, 20, 30), acks, strict=True):
        await settler.submit(Effects(outputs, done, {TP: offset}))
    acks[0].set_result(None)
    acks[1].set_exception(KafkaTimeoutError())
    acks[2].set_result(None)
    with pytest.raises(SettleFailed, match=r"ticks\[0\]=20 were not committed"):
        await settler.settled()
    assert [line for line in log if line.startswith("commit")] == ["commit 10"]
    assert settler.committed == {TP: 10}


async def test_a_full_pipeline_waits_for_its_oldest_batch() -> None:
    log: list[str] = []
    settler = settler_of(FakeConsumer(log))  # interval 0: a commit per batch
    done = acked(log, "")
    done.set_result(None)
    first = acked(log, "first acked")
    await settler.submit(Effects(first, done, {TP: 1}))
    for offset in range(2, 1 + MAX_IN_FLIGHT):
        await settler.submit(Effects(done, done, {TP: offset}))
    late = asyncio.create_task(settler.submit(Effects(done, done, {TP: 99})))
    await asyncio.sleep(0.01)
    assert not late.done()  # MAX_IN_FLIGHT settling: the next waits for the oldest
    first.set_result(None)
    await late
    await settler.settled()
    assert settler.committed == {TP: 99}


async def test_latency_runs_from_the_records_kafka_timestamp_to_the_acknowledgement() -> None:
    registry = CollectorRegistry()
    consumer = FakeConsumer([])
    settler = settler_of(consumer, interval_ms=10_000, registry=registry)
    written = time.time() - 2.0  # the oldest record was written two seconds ago
    await settler.submit(Effects(acked_now(), acked_now(), {TP: 5}, written_s=written))
    count = "ticksmith_end_to_end_latency_seconds_count"
    await until(lambda: registry.get_sample_value(count) == 1)
    assert consumer.commits == []  # observed when acknowledged, not when committed
    seconds = registry.get_sample_value("ticksmith_end_to_end_latency_seconds_sum")
    assert seconds is not None and 2.0 <= seconds < 3.0
    await settler.settled()


async def test_batches_acknowledged_within_the_interval_give_one_commit_of_the_newest() -> None:
    registry = CollectorRegistry()
    consumer = FakeConsumer([])
    settler = settler_of(consumer, interval_ms=50, registry=registry)
    batches: list[Offsets] = [{TP: 10, TP1: 5}, {TP: 20}, {TP: 30, TP2: 7}]
    for offsets in batches:
        await settler.submit(Effects(acked_now(), acked_now(), offsets))
    await until(lambda: consumer.commits)
    await settler.settled()  # nothing left to commit
    assert consumer.commits == [{TP: 30, TP1: 5, TP2: 7}]  # TP1 only in the first batch
    assert settler.committed == {TP: 30, TP1: 5, TP2: 7}
    assert registry.get_sample_value("ticksmith_offset_commits_total") == 1


async def test_a_lone_batch_is_committed_within_about_the_interval() -> None:
    consumer = FakeConsumer([])
    settler = settler_of(consumer, interval_ms=30)
    started = time.monotonic()
    await settler.submit(Effects(acked_now(), acked_now(), {TP: 10}))
    await until(lambda: consumer.commits)  # no batch follows, no settled()
    assert 0.025 <= time.monotonic() - started < 0.5
    assert consumer.commits == [{TP: 10}] and settler.committed == {TP: 10}


async def test_settled_commits_what_is_acknowledged_at_once() -> None:
    consumer = FakeConsumer([])
    settler = settler_of(consumer, interval_ms=10_000)
    await settler.submit(Effects(acked_now(), acked_now(), {TP: 10}))
    await settler.submit(Effects(acked_now(), acked_now(), {TP: 20, TP1: 3}))
    await asyncio.wait_for(settler.settled(), 1.0)
    assert consumer.commits == [{TP: 20, TP1: 3}]
    assert settler.committed == {TP: 20, TP1: 3}


async def test_a_failed_batch_means_nothing_at_or_after_it_is_committed() -> None:
    log: list[str] = []
    consumer = FakeConsumer(log)
    settler = settler_of(consumer, interval_ms=30)
    acks = [acked(log, f"outputs {n} acked") for n in (10, 20, 30)]
    for offset, outputs in zip((10, 20, 30), acks, strict=True):
        await settler.submit(Effects(outputs, acked_now(), {TP: offset, TP1: offset}))
    acks[2].set_result(None)  # acknowledged, but after the failed one
    acks[0].set_result(None)
    acks[1].set_exception(KafkaTimeoutError())
    with pytest.raises(SettleFailed, match=r"ticks\[0\]=20, ticks\[1\]=20 were not committed"):
        await settler.settled()
    assert consumer.commits == [{TP: 10, TP1: 10}]  # the batch before it still commits
    await asyncio.sleep(0.05)  # past the interval: no committer is left to commit more
    assert consumer.commits == [{TP: 10, TP1: 10}]
    assert settler.committed == {TP: 10, TP1: 10}


async def test_forgotten_partitions_are_left_out_of_the_next_commit() -> None:
    registry = CollectorRegistry()
    consumer = FakeConsumer([])
    settler = settler_of(consumer, interval_ms=30, registry=registry)
    await settler.submit(Effects(acked_now(), acked_now(), {TP: 10}))
    await settler.settled()
    effects = Effects(acked_now(), acked_now(), {TP: 20, TP1: 5}, written_s=time.time())
    await settler.submit(effects)
    count = "ticksmith_end_to_end_latency_seconds_count"
    await until(lambda: registry.get_sample_value(count) == 1)  # acknowledged, not committed
    settler.forget([TP1])
    await until(lambda: len(consumer.commits) == 2)
    assert consumer.commits == [{TP: 10}, {TP: 20}]
    assert settler.committed == {TP: 20}
    settler.forget([TP])
    assert settler.committed == {}


async def test_commits_never_go_back() -> None:
    consumer = FakeConsumer([])
    settler = settler_of(consumer, interval_ms=30)
    await settler.submit(Effects(acked_now(), acked_now(), {TP: 30}))
    await settler.submit(Effects(acked_now(), acked_now(), {TP: 20}))  # the same interval
    await settler.settled()
    await settler.submit(Effects(acked_now(), acked_now(), {TP: 25, TP1: 5}))  # the next
    await settler.settled()
    assert consumer.commits == [{TP: 30}, {TP1: 5}]
    assert settler.committed == {TP: 30, TP1: 5}


async def test_one_commit_is_in_flight_at_a_time_and_the_next_carries_the_newest() -> None:
    gate = asyncio.Event()
    consumer = FakeConsumer([], gate=gate)
    settler = settler_of(consumer, interval_ms=20)
    await settler.submit(Effects(acked_now(), acked_now(), {TP: 10}))
    await until(lambda: consumer.in_flight)  # the committer's, on the interval
    for offset in (20, 30):
        await settler.submit(Effects(acked_now(), acked_now(), {TP: offset}))
    settling = asyncio.create_task(settler.settled())
    await asyncio.sleep(0.05)  # past the interval, while the first commit is in flight
    assert consumer.in_flight == 1 and not settling.done()
    gate.set()
    await settling
    assert consumer.commits == [{TP: 10}, {TP: 30}] and consumer.most_in_flight == 1


async def test_a_failed_commit_on_the_interval_stops_the_member_and_later_commits() -> None:
    consumer = FakeConsumer([], KafkaTimeoutError())
    settler = settler_of(consumer, interval_ms=20)
    await settler.submit(Effects(acked_now(), acked_now(), {TP: 10}))
    await until(lambda: consumer.most_in_flight)

    def failed() -> bool:
        try:
            settler.raise_failure()
        except SettleFailed:
            return True
        return False

    await until(failed)
    consumer.fail = None
    with pytest.raises(SettleFailed, match=r"committing offsets ticks\[0\]=10 failed"):
        await settler.submit(Effects(acked_now(), acked_now(), {TP: 20}))
    with pytest.raises(SettleFailed, match="committing offsets"):
        await settler.settled()
    assert consumer.commits == [] and settler.committed == {}
