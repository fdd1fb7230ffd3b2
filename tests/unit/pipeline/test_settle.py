"""The commit order, with fake clients: no commit before a batch's outputs and dead
letters are acknowledged; a failed acknowledgement means no commit, and the member stops."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError, KafkaTimeoutError
from prometheus_client import CollectorRegistry

from ticksmith.metrics import Metrics
from ticksmith.pipeline.settle import MAX_IN_FLIGHT, Effects, SettleFailed, Settler

pytestmark = pytest.mark.timeout(10)
TP = TopicPartition("ticks", 0)


class FakeConsumer:
    """Records every commit, and what had been acknowledged when it was made."""

    def __init__(self, log: list[str], fail: BaseException | None = None) -> None:
        self.log = log
        self.fail = fail

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.fail is not None:
            raise self.fail
        self.log.append(f"commit {offsets[TP]}")


def acked(log: list[str], what: str) -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.add_done_callback(lambda _: log.append(what))
    return future


async def settle_one(
    log: list[str], consumer: FakeConsumer, offset: int = 10
) -> tuple[Settler, asyncio.Future[None], asyncio.Future[None]]:
    settler = Settler(consumer, Metrics(CollectorRegistry()))
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


async def test_a_commit_refused_by_a_rebalance_is_not_a_failure_and_records_nothing() -> None:
    log: list[str] = []
    settler, outputs, dead = await settle_one(log, FakeConsumer(log, CommitFailedError()))
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
    settler = Settler(FakeConsumer(log), Metrics(CollectorRegistry()))
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
    settler = Settler(FakeConsumer(log), Metrics(CollectorRegistry()))
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
    settler = Settler(FakeConsumer(log), Metrics(CollectorRegistry()))
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


async def test_latency_runs_from_the_records_kafka_timestamp_to_the_commit() -> None:
    log: list[str] = []
    registry = CollectorRegistry()
    settler = Settler(FakeConsumer(log), Metrics(registry))
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    written = time.time() - 2.0  # the oldest record was written two seconds ago
    await settler.submit(Effects(done, done, {TP: 5}, written_s=written))
    await settler.settled()
    seconds = registry.get_sample_value("ticksmith_end_to_end_latency_seconds_sum")
    assert seconds is not None and 2.0 <= seconds < 3.0
